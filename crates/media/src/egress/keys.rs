//! The SRTP keys of a DTLS session str0m negotiates, for Podium's own egress.
//!
//! str0m lets its user plug in the cryptography (`RtcConfig::set_crypto_provider`). Podium
//! plugs in str0m's own default provider with one layer around its DTLS: every DTLS
//! instance is wrapped, everything is forwarded unchanged, and when the handshake exports
//! the DTLS-SRTP keying material (`DtlsOutput::KeyingMaterial`) a copy goes into the peer's
//! [`KeySlot`] before str0m gets the original. str0m's handshake, certificate checks and
//! fingerprint verification stay exactly as they are. Why this and not the alternatives is
//! in `docs/egress.md`.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use str0m::crypto::dtls::DtlsVersion;
use str0m::crypto::dtls::{
    DtlsCert, DtlsImplError, DtlsInstance, DtlsOutput, DtlsProvider, ProtocolVersion, SrtpProfile,
};
use str0m::crypto::{CryptoError, CryptoProvider};
use str0m::{Rtc, RtcConfig};

use super::srtp::Profile;

/// Keying material exported by one DTLS handshake.
#[derive(Clone)]
pub struct ExportedKeys {
    /// The negotiated protection profile.
    pub profile: Profile,
    /// client key, server key, client salt, server salt (RFC 5764 §4.2).
    pub material: Vec<u8>,
    /// This side was the DTLS client.
    pub local_is_client: bool,
}

impl std::fmt::Debug for ExportedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("ExportedKeys")
            .field("profile", &self.profile)
            .field("local_is_client", &self.local_is_client)
            .finish_non_exhaustive()
    }
}

/// Where one peer's keys land once its handshake completes.
pub type KeySlot = Arc<Mutex<Option<ExportedKeys>>>;

/// Takes the keys out of a slot (once the handshake has exported them).
pub fn take_keys(slot: &KeySlot) -> Option<ExportedKeys> {
    slot.lock().ok()?.take()
}

thread_local! {
    /// The slot of the `Rtc` being built on this thread: str0m creates the DTLS instance
    /// inside `RtcConfig::build`, which takes no user data.
    static BUILDING: RefCell<Option<KeySlot>> = const { RefCell::new(None) };
}

/// Builds `config` into an `Rtc` whose DTLS session's SRTP keys are captured.
pub fn build_capturing(config: RtcConfig, now: Instant) -> (Rtc, KeySlot) {
    let slot = KeySlot::default();
    BUILDING.with(|b| *b.borrow_mut() = Some(slot.clone()));
    let rtc = config.set_crypto_provider(provider()).build(now);
    // Cleared whatever happened, so a later build cannot pick up this slot.
    BUILDING.with(|b| b.borrow_mut().take());
    (rtc, slot)
}

/// str0m's default provider with the capturing DTLS.
fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            let base = str0m::crypto::from_feature_flags();
            Arc::new(CryptoProvider {
                dtls_provider: &CAPTURING,
                ..base
            })
        })
        .clone()
}

static CAPTURING: CapturingDtls = CapturingDtls;

#[derive(Debug)]
struct CapturingDtls;

fn inner() -> &'static dyn DtlsProvider {
    str0m::crypto::from_feature_flags().dtls_provider
}

impl DtlsProvider for CapturingDtls {
    fn generate_certificate(&self) -> Option<DtlsCert> {
        inner().generate_certificate()
    }

    fn new_dtls(
        &self,
        cert: &DtlsCert,
        now: Instant,
        dtls_version: DtlsVersion,
        mtu: Option<usize>,
    ) -> Result<Box<dyn DtlsInstance>, CryptoError> {
        let dtls = inner().new_dtls(cert, now, dtls_version, mtu)?;
        let slot = BUILDING.with(|b| b.borrow_mut().take());
        Ok(match slot {
            Some(slot) => Box::new(Capturing { dtls, slot }),
            // Built without `build_capturing`: nothing to capture into.
            None => dtls,
        })
    }
}

#[derive(Debug)]
struct Capturing {
    dtls: Box<dyn DtlsInstance>,
    slot: KeySlot,
}

impl DtlsInstance for Capturing {
    fn set_active(&mut self, active: bool) {
        self.dtls.set_active(active)
    }

    fn handle_packet(&mut self, packet: &[u8]) -> Result<(), DtlsImplError> {
        self.dtls.handle_packet(packet)
    }

    fn poll_output<'a>(&mut self, buf: &'a mut [u8]) -> DtlsOutput<'a> {
        let out = self.dtls.poll_output(buf);
        if let DtlsOutput::KeyingMaterial(material, profile) = &out {
            let profile = match profile {
                SrtpProfile::AES128_CM_SHA1_80 => Some(Profile::Aes128CmSha1_80),
                SrtpProfile::AEAD_AES_128_GCM => Some(Profile::AeadAes128Gcm),
                SrtpProfile::AEAD_AES_256_GCM => Some(Profile::AeadAes256Gcm),
                #[allow(unreachable_patterns)]
                _ => None,
            };
            if let (Some(profile), Ok(mut slot)) = (profile, self.slot.lock()) {
                *slot = Some(ExportedKeys {
                    profile,
                    material: material.to_vec(),
                    local_is_client: self.dtls.is_active(),
                });
            }
        }
        out
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), DtlsImplError> {
        self.dtls.handle_timeout(now)
    }

    fn send_application_data(&mut self, data: &[u8]) -> Result<usize, DtlsImplError> {
        self.dtls.send_application_data(data)
    }

    fn is_active(&self) -> bool {
        self.dtls.is_active()
    }

    fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.dtls.protocol_version()
    }

    fn is_closing(&self) -> bool {
        self.dtls.is_closing()
    }

    fn is_closed(&self) -> bool {
        self.dtls.is_closed()
    }

    fn close(&mut self) -> Result<(), DtlsImplError> {
        self.dtls.close()
    }
}
