//! Which SRTP protection profile a str0m peer ended up with.
//!
//! str0m 0.25 reports the negotiated profile only in a debug log line, so test clients use
//! the default crypto provider wrapped in a spy: when DTLS completes, str0m asks the
//! provider for exactly one cipher family (the negotiated profile's) to build the SRTP
//! contexts, and the spy records which. Nothing changes per packet: ciphers are created once.

use std::sync::{Arc, Mutex};

use str0m::crypto::{
    from_feature_flags, CryptoProvider, SrtpProvider, SupportedAeadAes128Gcm,
    SupportedAeadAes256Gcm, SupportedAes128CmSha1_80,
};

/// An SRTP protection profile (RFC 5764, RFC 7714).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrtpProfile {
    /// `SRTP_AES128_CM_HMAC_SHA1_80`: AES counter mode plus an HMAC-SHA1 tag (10 bytes).
    Aes128CmSha1_80,
    /// `SRTP_AEAD_AES_128_GCM`: AES-GCM, 16-byte tag.
    AeadAes128Gcm,
    /// `SRTP_AEAD_AES_256_GCM`: AES-GCM with a 256-bit key, 16-byte tag.
    AeadAes256Gcm,
}

/// The profiles a peer's SRTP contexts were built for (one entry per context direction set).
#[derive(Debug, Clone, Default)]
pub struct SrtpLog(Arc<Mutex<Vec<SrtpProfile>>>);

impl SrtpLog {
    /// The profile in use, once DTLS has completed (`None` before, or if it was ambiguous).
    pub fn profile(&self) -> Option<SrtpProfile> {
        let seen = self.0.lock().expect("not poisoned");
        let first = *seen.first()?;
        seen.iter().all(|p| *p == first).then_some(first)
    }

    fn record(&self, p: SrtpProfile) {
        self.0.lock().expect("not poisoned").push(p);
    }
}

#[derive(Debug)]
struct Spy {
    inner: &'static dyn SrtpProvider,
    log: SrtpLog,
}

impl SrtpProvider for Spy {
    fn aes_128_cm_sha1_80(&self) -> &'static dyn SupportedAes128CmSha1_80 {
        self.log.record(SrtpProfile::Aes128CmSha1_80);
        self.inner.aes_128_cm_sha1_80()
    }

    fn aead_aes_128_gcm(&self) -> &'static dyn SupportedAeadAes128Gcm {
        self.log.record(SrtpProfile::AeadAes128Gcm);
        self.inner.aead_aes_128_gcm()
    }

    fn aead_aes_256_gcm(&self) -> &'static dyn SupportedAeadAes256Gcm {
        self.log.record(SrtpProfile::AeadAes256Gcm);
        self.inner.aead_aes_256_gcm()
    }

    fn srtp_aes_128_ecb_round(&self, key: &[u8], input: &[u8], output: &mut [u8]) {
        self.inner.srtp_aes_128_ecb_round(key, input, output)
    }

    fn srtp_aes_256_ecb_round(&self, key: &[u8], input: &[u8], output: &mut [u8]) {
        self.inner.srtp_aes_256_ecb_round(key, input, output)
    }
}

/// The default crypto provider, with SRTP cipher creation recorded in the returned log.
/// Leaks one small spy per call (str0m wants `'static` providers); fine for tests.
pub fn spied_provider() -> (Arc<CryptoProvider>, SrtpLog) {
    let mut provider = from_feature_flags();
    let log = SrtpLog::default();
    let spy: &'static Spy = Box::leak(Box::new(Spy {
        inner: provider.srtp_provider,
        log: log.clone(),
    }));
    provider.srtp_provider = spy;
    (Arc::new(provider), log)
}
