//! Renders a plan into a Swarm stack and every config file, from embedded minijinja templates.
