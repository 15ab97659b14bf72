//! The accept loop both simulators share.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};

use crate::Error;

/// A listener that runs `handler` for each connection. Dropping it stops accepting and
/// ends every connection (they live in its task's `JoinSet`).
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// 127.0.0.1 on a free port: where the simulators listen unless told otherwise.
pub(crate) const LOCAL: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

impl Server {
    pub(crate) async fn start<O, F, Fut>(
        addr: SocketAddr,
        options: Arc<O>,
        handler: F,
    ) -> Result<Server, Error>
    where
        O: Send + Sync + 'static,
        F: Fn(TcpStream, Arc<O>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let bind_error = |e| Error::Connect {
            url: addr.to_string(),
            source: Arc::new(e),
        };
        let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                connections.spawn(handler(stream, options.clone()));
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(Server { addr, task })
    }
}
