//! The HTTP client shared by every request that brings none, with the system's root
//! certificates read at the first TLS handshake rather than when the client is made.
//!
//! `reqwest::Client::new` reads and parses every certificate in the system's store
//! (`/etc/ssl/certs`: a few hundred files, milliseconds of CPU) before the first request,
//! even one to `http://localhost`. Here the client's TLS setup is reqwest's own (the
//! platform verifier, the default crypto provider, ALPN `h2` then `http/1.1`), but the
//! verifier is made when a server first presents a certificate. (Without the `tls`
//! feature the client speaks plain HTTP only.)

#[cfg(feature = "tls")]
use std::sync::Arc;
use std::sync::OnceLock;

#[cfg(feature = "tls")]
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
#[cfg(feature = "tls")]
use rustls::crypto::CryptoProvider;
#[cfg(feature = "tls")]
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
#[cfg(feature = "tls")]
use rustls::{DigitallySignedStruct, SignatureScheme};
#[cfg(feature = "tls")]
use rustls_platform_verifier::Verifier;

/// The shared client: one connection pool, made once.
pub(crate) fn shared() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        #[cfg(feature = "tls")]
        if let Some(client) = tls_config().ok().and_then(|tls| {
            reqwest::Client::builder()
                .tls_backend_preconfigured(tls)
                .build()
                .ok()
        }) {
            return client;
        }
        // Neither fails with rustls's default provider; reqwest's own setup if so (plain
        // HTTP only without the `tls` feature).
        reqwest::Client::default()
    })
}

#[cfg(feature = "tls")]
/// rustls's client config as reqwest makes it, with a verifier made on first use.
fn tls_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(LazyVerifier {
            provider,
            inner: OnceLock::new(),
        }))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The platform's verifier, made (and the system's certificates read) at the first
/// certificate to check.
#[cfg(feature = "tls")]
#[derive(Debug)]
struct LazyVerifier {
    provider: Arc<CryptoProvider>,
    inner: OnceLock<Result<Verifier, rustls::Error>>,
}

#[cfg(feature = "tls")]
impl LazyVerifier {
    fn get(&self) -> Result<&Verifier, rustls::Error> {
        self.inner
            .get_or_init(|| Verifier::new(self.provider.clone()))
            .as_ref()
            .map_err(Clone::clone)
    }
}

#[cfg(feature = "tls")]
impl ServerCertVerifier for LazyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.get()?
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.get()?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.get()?.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(all(test, feature = "tls"))]
mod tests {
    use super::*;

    #[test]
    fn the_verifier_is_made_at_the_first_certificate_not_before() {
        let config = tls_config().unwrap();
        assert_eq!(
            config.alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        let lazy = LazyVerifier {
            provider: config.crypto_provider().clone(),
            inner: OnceLock::new(),
        };
        assert!(!lazy.supported_verify_schemes().is_empty());
        assert!(lazy.inner.get().is_none(), "made before any certificate");
        // A certificate that is not DER at all is refused by the platform's verifier.
        let name = ServerName::try_from("example.com").unwrap();
        let refused = lazy.verify_server_cert(
            &CertificateDer::from(vec![0u8; 8]),
            &[],
            &name,
            &[],
            UnixTime::now(),
        );
        assert!(refused.is_err());
        assert!(lazy.inner.get().is_some(), "made at the first certificate");
    }
}
