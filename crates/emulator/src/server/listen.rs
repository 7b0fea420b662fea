//! The listener and the running server: the router (API plus admin), TCP connections a fault can
//! kill mid-request, and [`start`] / [`serve`].

use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use super::opts::Opts;
use super::pipeline::api;
use super::{Emulator, ServerError};

/// The full router: the API on every path except `/__emulator/...` (the admin API).
pub fn router(state: Arc<Emulator>) -> Router {
    Router::new()
        .nest("/__emulator", crate::admin::router())
        .fallback(api)
        .with_state(state)
}

/// Per-connection handle given to handlers as connect info: lets the fault injector kill the
/// connection the current request arrived on.
#[derive(Debug, Clone)]
pub struct ConnHandle {
    /// Peer address.
    pub remote: SocketAddr,
    killed: Arc<AtomicBool>,
}

impl ConnHandle {
    /// Makes every further read/write on the connection fail.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
    }
}

impl Connected<IncomingStream<'_, KillableListener>> for ConnHandle {
    fn connect_info(stream: IncomingStream<'_, KillableListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// A TCP listener whose connections can be killed from a handler (for dropped-connection faults).
#[derive(Debug)]
pub struct KillableListener {
    inner: TcpListener,
}

impl KillableListener {
    /// Wraps a bound listener.
    #[must_use]
    pub fn new(inner: TcpListener) -> Self {
        Self { inner }
    }
}

impl Listener for KillableListener {
    type Io = KillableStream;
    type Addr = ConnHandle;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, remote)) => {
                    let _ = stream.set_nodelay(true);
                    let killed = Arc::new(AtomicBool::new(false));
                    let io = KillableStream {
                        inner: stream,
                        killed: Arc::clone(&killed),
                    };
                    return (io, ConnHandle { remote, killed });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(ConnHandle {
            remote: self.inner.local_addr()?,
            killed: Arc::new(AtomicBool::new(false)),
        })
    }
}

/// A TCP stream that fails every operation once its [`ConnHandle`] was killed.
#[derive(Debug)]
pub struct KillableStream {
    inner: TcpStream,
    killed: Arc<AtomicBool>,
}

impl KillableStream {
    fn is_killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }
}

/// The error every operation on a killed connection fails with.
fn killed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        "connection dropped by fault injection",
    )
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.is_killed() {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.is_killed() {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.is_killed() {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.is_killed() {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A started emulator (in-process).
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    /// The shared state (for tests that want to look inside).
    pub state: Arc<Emulator>,
    /// The server task.
    pub task: tokio::task::JoinHandle<io::Result<()>>,
}

impl Running {
    /// `http://ADDR`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Binds `opts.listen` and serves the emulator on a background task.
///
/// # Errors
/// Seed, fault flag or bind errors.
pub async fn start(opts: &Opts) -> Result<Running, ServerError> {
    let state = Arc::new(Emulator::from_opts(opts)?);
    let listener = TcpListener::bind(&opts.listen).await?;
    let addr = listener.local_addr()?;
    let app = router(Arc::clone(&state)).into_make_service_with_connect_info::<ConnHandle>();
    let task = tokio::spawn(async move { axum::serve(KillableListener::new(listener), app).await });
    Ok(Running { addr, state, task })
}

/// Runs the emulator until the process ends: prints `listening on http://ADDR` on stdout once bound.
///
/// # Errors
/// Seed, fault flag, bind or serve errors.
pub async fn serve(opts: Opts) -> Result<(), ServerError> {
    let running = start(&opts).await?;
    tracing::info!(addr = %running.addr, seed = %opts.seed.display(), "aliyun-emulator started");
    {
        let mut out = io::stdout().lock();
        writeln!(out, "listening on {}", running.url())?;
        out.flush()?;
    }
    match running.task.await {
        Ok(r) => Ok(r?),
        Err(e) => Err(ServerError::Io(io::Error::other(e.to_string()))),
    }
}
