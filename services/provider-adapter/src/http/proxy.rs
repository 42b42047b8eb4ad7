//! Dialling a provider: directly, or through the proxy the environment names
//! (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, with `NO_PROXY` exempting hosts, read
//! as curl reads them). HTTPS goes through a `CONNECT` tunnel, so TLS still runs
//! end to end with the provider; plain HTTP is sent to the proxy in absolute form.
//! Then rustls (webpki roots, ALPN `h2` and `http/1.1`) for `https` URLs.

use std::error::Error as StdError;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Uri;
use http::uri::Scheme;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower::{Service, ServiceExt};

type BoxError = Box<dyn StdError + Send + Sync>;

/// The pool's connector: TLS over a [`Dialer`].
pub type ProxyConnector = HttpsConnector<Dialer>;

/// Builds the connector: `tcp` dials, `proxies` decides where.
pub fn connector(
    tcp: HttpConnector,
    proxies: Arc<Matcher>,
) -> Result<ProxyConnector, rustls::Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(Dialer { tcp, proxies }))
}

/// Opens the TCP connection for one destination: to it, or to its proxy.
#[derive(Clone, Debug)]
pub struct Dialer {
    tcp: HttpConnector,
    proxies: Arc<Matcher>,
}

impl Service<Uri> for Dialer {
    type Response = Dialed;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Dialed, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Each call dials with its own clone of the connector.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let tcp = self.tcp.clone();
        let Some(proxy) = self.proxies.intercept(&dst) else {
            return Box::pin(async move { Ok(Dialed::new(tcp.oneshot(dst).await?, false)) });
        };
        let at = proxy.uri().clone();
        if at.scheme() != Some(&Scheme::HTTP) {
            let scheme = at.scheme_str().unwrap_or("").to_string();
            return Box::pin(async move {
                Err(
                    format!("proxy scheme `{scheme}` is not supported; name an http:// proxy")
                        .into(),
                )
            });
        }
        if dst.scheme() == Some(&Scheme::HTTPS) {
            let mut tunnel = Tunnel::new(at, tcp);
            if let Some(auth) = proxy.basic_auth() {
                tunnel = tunnel.with_auth(auth.clone());
            }
            Box::pin(async move { Ok(Dialed::new(tunnel.oneshot(dst).await?, false)) })
        } else {
            // Requests on this connection go in absolute form (`proxied`).
            Box::pin(async move { Ok(Dialed::new(tcp.oneshot(at).await?, true)) })
        }
    }
}

/// A dialled TCP connection, knowing whether it leads to an HTTP proxy (which
/// makes hyper write absolute-form request targets).
#[derive(Debug)]
pub struct Dialed {
    io: TokioIo<TcpStream>,
    proxied: bool,
}

impl Dialed {
    fn new(io: TokioIo<TcpStream>, proxied: bool) -> Self {
        Self { io, proxied }
    }
}

impl Connection for Dialed {
    fn connected(&self) -> Connected {
        self.io.connected().proxy(self.proxied)
    }
}

impl Read for Dialed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl Write for Dialed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
