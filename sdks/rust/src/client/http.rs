//! HTTP/1.1 requests on hyper's connection API: one connection per request (the client makes
//! few requests; an event stream holds its own), `https` with the `client-tls` feature.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, HOST};
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::ClientError;

/// Where the API is: `http://host:port/prefix/api/v1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BaseUrl {
    pub tls: bool,
    /// The host to connect to (an IPv6 address without brackets).
    pub host: String,
    pub port: u16,
    /// `host:port` as the `Host` header says it.
    pub authority: String,
    /// The path of the API root, e.g. `/api/v1`, without a trailing slash.
    pub prefix: String,
}

impl BaseUrl {
    /// `http://127.0.0.1:8000`, `https://mentat.example.com/lab/`, `http://[::1]:8000/api/v1`.
    pub(crate) fn parse(text: &str) -> Result<Self, ClientError> {
        let invalid = |why: &str| ClientError::InvalidUrl(format!("{text:?}: {why}"));
        let (tls, rest) = if let Some(rest) = text.strip_prefix("http://") {
            (false, rest)
        } else if let Some(rest) = text.strip_prefix("https://") {
            (true, rest)
        } else {
            return Err(invalid("must start with http:// or https://"));
        };
        if rest.contains(['?', '#']) {
            return Err(invalid("a query or fragment is not allowed"));
        }
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.is_empty() || authority.contains('@') {
            return Err(invalid("expected a host (and no user info)"));
        }
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) = bracketed.split_once(']').ok_or_else(|| invalid("unclosed '['"))?;
            let port = match after.strip_prefix(':') {
                Some(port) => port.parse().map_err(|_| invalid("bad port"))?,
                None if after.is_empty() => default_port,
                None => return Err(invalid("bad port")),
            };
            (host.to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host.to_owned(), port.parse().map_err(|_| invalid("bad port"))?),
                None => (authority.to_owned(), default_port),
            }
        };
        if host.is_empty() {
            return Err(invalid("expected a host"));
        }
        let mut prefix = path.trim_end_matches('/').to_owned();
        if !prefix.ends_with("/api/v1") {
            prefix.push_str("/api/v1");
        }
        Ok(BaseUrl {
            tls,
            host,
            port,
            authority: authority.to_owned(),
            prefix,
        })
    }
}

/// How to open connections: the address, and TLS when the base URL is `https`.
#[derive(Clone)]
pub(crate) struct Connector {
    pub base: BaseUrl,
    pub connect_timeout: Duration,
    #[cfg(feature = "client-tls")]
    tls: Option<tokio_rustls::TlsConnector>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Connector {
    pub(crate) fn new(base: BaseUrl, connect_timeout: Duration) -> Result<Self, ClientError> {
        #[cfg(feature = "client-tls")]
        {
            let tls = base.tls.then(tls_connector).transpose()?;
            Ok(Connector {
                base,
                connect_timeout,
                tls,
            })
        }
        #[cfg(not(feature = "client-tls"))]
        {
            if base.tls {
                return Err(ClientError::InvalidUrl(
                    "https:// needs the `client-tls` feature of mentatlab-sdk".to_owned(),
                ));
            }
            Ok(Connector { base, connect_timeout })
        }
    }

    /// Send one request on a new connection; resolves when the response head has arrived.
    pub(crate) async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Option<Vec<u8>>,
    ) -> Result<Response<Incoming>, ClientError> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path_and_query}", self.base.prefix));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let request = request
            .header(HOST, &self.base.authority)
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| ClientError::InvalidUrl(format!("{path_and_query:?}: {e}")))?;
        let address = (self.base.host.as_str(), self.base.port);
        let tcp = tokio::time::timeout(self.connect_timeout, TcpStream::connect(address))
            .await
            .map_err(|_| ClientError::transport(format!("connecting to {} timed out", self.base.authority), None))?
            .map_err(|e| {
                ClientError::transport(format!("cannot connect to {}", self.base.authority), Some(e.into()))
            })?;
        let _ = tcp.set_nodelay(true);
        #[cfg(feature = "client-tls")]
        if let Some(tls) = &self.tls {
            let name = tokio_rustls::rustls::pki_types::ServerName::try_from(self.base.host.clone())
                .map_err(|e| ClientError::InvalidUrl(format!("{}: {e}", self.base.host)))?;
            let stream = tokio::time::timeout(self.connect_timeout, tls.connect(name, tcp))
                .await
                .map_err(|_| ClientError::transport(format!("TLS with {} timed out", self.base.authority), None))?
                .map_err(|e| {
                    ClientError::transport(format!("TLS with {} failed", self.base.authority), Some(e.into()))
                })?;
            return exchange(stream, request).await;
        }
        exchange(tcp, request).await
    }
}

async fn exchange<S>(stream: S, request: Request<Full<Bytes>>) -> Result<Response<Incoming>, ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| ClientError::transport("HTTP handshake failed".to_owned(), Some(e.into())))?;
    // The connection is driven by a task of its own until the response body is done with.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    sender
        .send_request(request)
        .await
        .map_err(|e| ClientError::transport("HTTP request failed".to_owned(), Some(e.into())))
}

#[cfg(feature = "client-tls")]
fn tls_connector() -> Result<tokio_rustls::TlsConnector, ClientError> {
    use std::sync::Arc;
    use tokio_rustls::rustls;

    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::transport("TLS configuration failed".to_owned(), Some(e.into())))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        let base = BaseUrl::parse("http://127.0.0.1:8000").unwrap();
        assert_eq!(
            (base.host.as_str(), base.port, base.prefix.as_str(), base.tls),
            ("127.0.0.1", 8000, "/api/v1", false)
        );
        let base = BaseUrl::parse("https://lab.example.com/mentat/").unwrap();
        assert_eq!(
            (base.host.as_str(), base.port, base.prefix.as_str()),
            ("lab.example.com", 443, "/mentat/api/v1")
        );
        let base = BaseUrl::parse("http://[::1]:9/api/v1/").unwrap();
        assert_eq!(
            (
                base.host.as_str(),
                base.port,
                base.authority.as_str(),
                base.prefix.as_str()
            ),
            ("::1", 9, "[::1]:9", "/api/v1")
        );
        for bad in [
            "127.0.0.1:8000",
            "http://",
            "http://h:port",
            "http://h/?x",
            "ftp://h",
            "http://u@h",
        ] {
            assert!(BaseUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
