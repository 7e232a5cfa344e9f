//! One connection type over standalone and Cluster Redis, so every role's code is written once.

use crate::config::{ConnectError, RedisRoleConfig, RedisTarget};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

/// A self-reconnecting multiplexed connection (cheap to clone) to a standalone Redis or a Redis Cluster.
#[derive(Clone)]
pub enum RedisConn {
    Standalone(ConnectionManager),
    Cluster(ClusterConnection),
}

impl RedisConn {
    pub(crate) async fn connect(config: &RedisRoleConfig) -> Result<Self, ConnectError> {
        let fail = |source| ConnectError::Connect {
            role: config.role.clone(),
            target: config.describe(),
            source,
        };
        let urls = config.urls();
        let connecting = async {
            match &config.target {
                RedisTarget::Standalone(_) => {
                    let client = redis::Client::open(urls[0].as_str()).map_err(fail)?;
                    let manager_config = ConnectionManagerConfig::new()
                        .set_connection_timeout(config.connect_timeout)
                        .set_response_timeout(config.response_timeout)
                        .set_number_of_retries(1)
                        .set_max_delay(1_000);
                    let manager = ConnectionManager::new_with_config(client, manager_config)
                        .await
                        .map_err(fail)?;
                    Ok(Self::Standalone(manager))
                }
                RedisTarget::Cluster(_) => {
                    let client = redis::cluster::ClusterClient::builder(urls)
                        .connection_timeout(config.connect_timeout)
                        .response_timeout(config.response_timeout)
                        .retries(2)
                        .build()
                        .map_err(fail)?;
                    Ok(Self::Cluster(
                        client.get_async_connection().await.map_err(fail)?,
                    ))
                }
            }
        };
        let deadline = config.connect_timeout * 3;
        tokio::time::timeout(deadline, connecting)
            .await
            .map_err(|_| ConnectError::Timeout {
                role: config.role.clone(),
                target: config.describe(),
                seconds: deadline.as_secs(),
            })?
    }
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Standalone(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Standalone(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Standalone(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}
