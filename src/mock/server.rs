//! The accept loop both simulators share.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};

use crate::Error;

/// A listener on 127.0.0.1 that runs `handler` for each connection. Dropping it stops
/// accepting and ends every connection (they live in its task's `JoinSet`).
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

impl Server {
    pub(crate) async fn start<O, F, Fut>(options: Arc<O>, handler: F) -> Result<Server, Error>
    where
        O: Send + Sync + 'static,
        F: Fn(TcpStream, Arc<O>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let bind_error = |e| Error::Connect {
            url: "127.0.0.1:0".into(),
            source: Arc::new(e),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(bind_error)?;
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
