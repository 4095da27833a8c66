//! The upstream certificate verifier: webpki (chain, validity, name) behind a refusal of any
//! chain that involves portcullis's own CA, with every failure turned into a
//! [`CertProblem`] that says which check failed.
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, OtherError, SignatureScheme};

use super::upstream::{CertProblem, Refused};
use super::x509;

/// What identifies portcullis's CAs (current and previous) in a presented chain.
#[derive(Debug, Clone, Default)]
pub(crate) struct OwnCa {
    subjects: Vec<Vec<u8>>,
    spkis: Vec<Vec<u8>>,
}

impl OwnCa {
    pub(crate) fn new<'a, 'b: 'a>(
        certs: impl IntoIterator<Item = &'a CertificateDer<'b>>,
    ) -> OwnCa {
        let mut own = OwnCa::default();
        for c in certs {
            if let Ok(p) = x509::parse(c) {
                own.subjects.push(p.subject().as_raw().to_vec());
                own.spkis.push(p.public_key().raw.to_vec());
            }
        }
        own
    }

    /// The certificate is one of ours, carries our key, or names one of ours as issuer.
    pub(crate) fn involved_in(&self, cert: &CertificateDer<'_>) -> bool {
        let Ok(p) = x509::parse(cert) else {
            return false;
        };
        self.spkis.iter().any(|k| k == p.public_key().raw)
            || self.subjects.iter().any(|s| s == p.issuer().as_raw())
            || self.subjects.iter().any(|s| s == p.subject().as_raw())
    }
}

#[derive(Debug)]
pub(crate) struct Verifier {
    pub(crate) inner: Arc<WebPkiServerVerifier>,
    pub(crate) own: OwnCa,
}

/// The error a refused chain ends the handshake with: the reason and the server's certificate.
pub(crate) fn refuse(problem: CertProblem, ee: &CertificateDer<'_>) -> Error {
    let r = Refused {
        problem,
        cert: x509::summary(ee).ok(),
    };
    Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(r))))
}

fn self_signed(ee: &CertificateDer<'_>) -> bool {
    x509::parse(ee).is_ok_and(|c| c.subject().as_raw() == c.issuer().as_raw())
}

/// Which check a webpki certificate error stands for.
pub(crate) fn classify(e: &CertificateError, ee: &CertificateDer<'_>) -> CertProblem {
    use CertificateError as C;
    match e {
        C::Expired | C::ExpiredContext { .. } => CertProblem::Expired,
        C::NotValidYet | C::NotValidYetContext { .. } => CertProblem::NotYetValid,
        C::NotValidForName => CertProblem::WrongName {
            presented: Vec::new(),
        },
        C::NotValidForNameContext { presented, .. } => CertProblem::WrongName {
            presented: presented.clone(),
        },
        C::UnknownIssuer if self_signed(ee) => CertProblem::SelfSigned,
        C::UnknownIssuer => CertProblem::UnknownRoot,
        C::Revoked => CertProblem::Revoked,
        C::Other(o) => match o.0.downcast_ref::<Refused>() {
            Some(r) => r.problem.clone(),
            None => CertProblem::Invalid(e.to_string()),
        },
        other if self_signed(ee) => CertProblem::SelfSignedInvalid(other.to_string()),
        other => CertProblem::Invalid(other.to_string()),
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        if std::iter::once(end_entity)
            .chain(intermediates)
            .any(|c| self.own.involved_in(c))
        {
            return Err(refuse(CertProblem::SignedByPortcullisCa, end_entity));
        }
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map_err(|e| match e {
                Error::InvalidCertificate(c) => refuse(classify(&c, end_entity), end_entity),
                other => other,
            })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use rcgen::{CertificateParams, KeyPair};
    use rustls::RootCertStore;

    use super::*;
    use crate::tls::{Ca, TlsCfg, provider};

    /// Even with portcullis's CA as a trust anchor (say, added to the system store), a chain
    /// it signed is refused; the same verifier without the refusal would accept it.
    #[test]
    fn own_ca_is_refused_even_as_a_trust_anchor() {
        let d = tempfile::tempdir().unwrap();
        let cfg = TlsCfg {
            ca_dir: d.path().join("ca"),
            ..TlsCfg::default()
        };
        let ca = Ca::init(&cfg, "test", false).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(vec!["mail.test".to_string()]).unwrap();
        p.not_before = (SystemTime::now() - Duration::from_secs(60)).into();
        p.not_after = (SystemTime::now() + Duration::from_secs(86_400)).into();
        let leaf = p.signed_by(&key, ca.issuer()).unwrap().der().clone();
        let mut roots = RootCertStore::empty();
        roots.add(ca.cert_der().clone()).unwrap();
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .unwrap();
        let name = ServerName::try_from("mail.test").unwrap();
        let now = UnixTime::now();
        let trusting = Verifier {
            inner: inner.clone(),
            own: OwnCa::default(),
        };
        assert!(
            trusting
                .verify_server_cert(&leaf, &[], &name, &[], now)
                .is_ok()
        );
        let guarded = Verifier {
            inner,
            own: OwnCa::new(ca.own_certs()),
        };
        let err = guarded
            .verify_server_cert(&leaf, &[], &name, &[], now)
            .unwrap_err();
        let Error::InvalidCertificate(c) = err else {
            panic!("{err:?}");
        };
        assert_eq!(classify(&c, &leaf), CertProblem::SignedByPortcullisCa);
    }
}
