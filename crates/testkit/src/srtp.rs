//! SRTP of str0m test clients: which protection profile a peer negotiated, and its sending
//! session keys, so a test can send hand-built RTP and RTCP inside the established session.
//!
//! str0m 0.25 reports the profile only in a debug log line and has no API for raw packets,
//! so test clients use the default crypto provider wrapped in a spy. When DTLS completes,
//! str0m derives each direction's session keys and salts with the provider's AES-ECB rounds
//! (the RFC 3711 key derivation), asks the negotiated profile's factory for its ciphers, then
//! encrypts with the sending ones. The spy records the derivation rounds, the profile and the
//! key of the first cipher that encrypts: that key points out the sending direction, whose
//! keys and salts the recorded rounds then give ([`SrtpLog::sender`]). Unlike salts read
//! back from IVs, this also covers viewers, which send RTCP but never RTP.

use std::fmt;
use std::sync::{Arc, Mutex};

use str0m::crypto::{
    from_feature_flags, AeadAes128GcmCipher, AeadAes256GcmCipher, CryptoError, CryptoProvider,
    SrtpProvider, SupportedAeadAes128Gcm, SupportedAeadAes256Gcm, SupportedAes128CmSha1_80,
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

/// Why a client's packets cannot be protected by the test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SrtpError {
    /// DTLS has not completed (or the profile was ambiguous).
    NotNegotiated,
    /// Only the AEAD AES-GCM profiles are supported.
    UnsupportedProfile(SrtpProfile),
    /// The client has not encrypted anything yet, so its sending direction is unknown.
    NothingSentYet,
    /// The recorded key derivation does not explain the client's sending key.
    KeysNotFound,
    /// Too short to be an RTP (12 bytes) or RTCP (8 bytes) packet.
    TooShort(usize),
}

impl fmt::Display for SrtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for SrtpError {}

/// One AES-ECB round of the key derivation: master key, input block, output block.
type Round = (Vec<u8>, [u8; 16], [u8; 16]);

/// What the spy saw of one client.
#[derive(Debug, Default)]
struct State {
    provider: Option<&'static dyn SrtpProvider>,
    profiles: Vec<SrtpProfile>,
    rounds: Vec<Round>,
    /// Key of the first cipher that encrypted: one of the sending direction's session keys.
    sending_key: Option<Vec<u8>>,
    /// Highest SRTCP index str0m used.
    srtcp_index: Option<u32>,
}

/// The SRTP record of one peer. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct SrtpLog(Arc<Mutex<State>>);

impl SrtpLog {
    /// The profile in use, once DTLS has completed (`None` before, or if it was ambiguous).
    pub fn profile(&self) -> Option<SrtpProfile> {
        let state = self.lock();
        let first = *state.profiles.first()?;
        state.profiles.iter().all(|p| *p == first).then_some(first)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().expect("not poisoned")
    }

    fn record(&self, p: SrtpProfile) {
        self.lock().profiles.push(p);
    }

    fn on_round(&self, key: &[u8], input: &[u8], output: &[u8]) {
        let mut state = self.lock();
        // Only run when a session is keyed (a handful of rounds); the cap is a safety net.
        if state.rounds.len() < 256 && input.len() >= 16 && output.len() >= 16 {
            let mut i = [0; 16];
            let mut o = [0; 16];
            i.copy_from_slice(&input[..16]);
            o.copy_from_slice(&output[..16]);
            state.rounds.push((key.to_vec(), i, o));
        }
    }

    fn on_encrypt(&self, key: &[u8], aad: &[u8]) {
        let mut state = self.lock();
        if state.sending_key.is_none() {
            state.sending_key = Some(key.to_vec());
        }
        if let Some(index) = srtcp_index(aad) {
            state.srtcp_index = state.srtcp_index.max(Some(index));
        }
    }

    /// A protector for hand-built packets with this client's sending keys. Needs DTLS done
    /// with an AEAD AES-GCM profile and at least one packet (RTP or RTCP) sent by str0m.
    pub fn sender(&self) -> Result<SrtpSender, SrtpError> {
        let profile = self.profile().ok_or(SrtpError::NotNegotiated)?;
        let key_len = match profile {
            SrtpProfile::AeadAes128Gcm => 16,
            SrtpProfile::AeadAes256Gcm => 32,
            other => return Err(SrtpError::UnsupportedProfile(other)),
        };
        let state = self.lock();
        let sending = state
            .sending_key
            .as_ref()
            .ok_or(SrtpError::NothingSentYet)?;
        let provider = state.provider.ok_or(SrtpError::NotNegotiated)?;
        let (master, _, _) = state
            .rounds
            .iter()
            .find(|(_, input, out)| input[14..] == [0, 0] && out[..] == sending[..16])
            .ok_or(SrtpError::KeysNotFound)?;
        let kdf = Kdf::new(&state.rounds, master).ok_or(SrtpError::KeysNotFound)?;
        // RFC 3711 §4.3.1 labels: 0 RTP key, 2 RTP salt, 3 RTCP key, 5 RTCP salt.
        let rtp_key = kdf.derive(0, key_len)?;
        let rtcp_key = kdf.derive(3, key_len)?;
        if *sending != rtp_key && *sending != rtcp_key {
            return Err(SrtpError::KeysNotFound);
        }
        let salt = |label| -> Result<[u8; 12], SrtpError> {
            let mut s = [0; 12];
            s.copy_from_slice(&kdf.derive(label, 12)?);
            Ok(s)
        };
        // Far above str0m's own counter (one per RTCP packet it sends), so the two never
        // reuse an IV however long the test runs.
        let index = state.srtcp_index.map_or(0, |i| i + 1).max(SRTCP_INDEX_BASE);
        Ok(SrtpSender::new(
            provider,
            (&rtp_key, salt(2)?),
            (&rtcp_key, salt(5)?),
            index,
        ))
    }
}

const SRTCP_INDEX_BASE: u32 = 1 << 30;

/// The E flag and index of an SRTCP AAD (RTCP header, sender SSRC, E||index); RTCP packet
/// types are 200–207, where RTP would have a marker bit and payload type.
fn srtcp_index(aad: &[u8]) -> Option<u32> {
    (aad.len() == 12 && (200..=207).contains(&aad[1]))
        .then(|| u32::from_be_bytes([aad[8], aad[9], aad[10], aad[11]]) & 0x7fff_ffff)
}

/// The recorded derivation rounds of one master key.
struct Kdf<'a> {
    rounds: Vec<&'a Round>,
    /// Byte 7 of the master salt: the label is XORed into it.
    salt7: u8,
}

impl<'a> Kdf<'a> {
    fn new(all: &'a [Round], master: &[u8]) -> Option<Self> {
        let rounds: Vec<&Round> = all.iter().filter(|(k, _, _)| k == master).collect();
        let has = |b: u8| rounds.iter().any(|(_, i, _)| i[7] == b);
        // The one salt byte for which all four labels were derived.
        let salt7 = rounds
            .iter()
            .map(|(_, i, _)| i[7])
            .find(|&s| [0, 2, 3, 5].iter().all(|l| has(s ^ l)))?;
        Some(Self { rounds, salt7 })
    }

    /// Session key or salt `label`: AES-CM keystream blocks 0, 1, … of its input.
    fn derive(&self, label: u8, len: usize) -> Result<Vec<u8>, SrtpError> {
        let mut out = Vec::with_capacity(len);
        for n in 0u16.. {
            if out.len() >= len {
                break;
            }
            let (_, _, block) = self
                .rounds
                .iter()
                .find(|(_, i, _)| i[7] == self.salt7 ^ label && i[14..] == n.to_be_bytes())
                .ok_or(SrtpError::KeysNotFound)?;
            out.extend_from_slice(block);
        }
        out.truncate(len);
        Ok(out)
    }
}

/// An AEAD AES-GCM sending cipher made by the real provider.
enum Gcm {
    A128(Box<dyn AeadAes128GcmCipher>),
    A256(Box<dyn AeadAes256GcmCipher>),
}

impl Gcm {
    fn new(provider: &'static dyn SrtpProvider, key: &[u8]) -> Self {
        match key.len() {
            16 => Gcm::A128(
                provider
                    .aead_aes_128_gcm()
                    .create_cipher(key.try_into().expect("16 bytes"), true),
            ),
            _ => Gcm::A256(
                provider
                    .aead_aes_256_gcm()
                    .create_cipher(key.try_into().expect("32 bytes"), true),
            ),
        }
    }

    /// Ciphertext followed by the 16-byte tag.
    fn seal(&mut self, iv: &[u8; 12], aad: &[u8], plain: &[u8]) -> Vec<u8> {
        let mut out = vec![0; plain.len() + 16];
        match self {
            Gcm::A128(c) => c.encrypt(iv, aad, plain, &mut out),
            Gcm::A256(c) => c.encrypt(iv, aad, plain, &mut out),
        }
        .expect("AES-GCM encrypt");
        out
    }
}

/// Protects hand-built packets with a client's sending keys (RFC 7714).
pub struct SrtpSender {
    rtp: Gcm,
    rtp_salt: [u8; 12],
    rtcp: Gcm,
    rtcp_salt: [u8; 12],
    next_srtcp_index: u32,
}

impl fmt::Debug for SrtpSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpSender")
            .field("next_srtcp_index", &self.next_srtcp_index)
            .finish_non_exhaustive()
    }
}

impl SrtpSender {
    fn new(
        provider: &'static dyn SrtpProvider,
        (rtp_key, rtp_salt): (&[u8], [u8; 12]),
        (rtcp_key, rtcp_salt): (&[u8], [u8; 12]),
        next_srtcp_index: u32,
    ) -> Self {
        Self {
            rtp: Gcm::new(provider, rtp_key),
            rtp_salt,
            rtcp: Gcm::new(provider, rtcp_key),
            rtcp_salt,
            next_srtcp_index,
        }
    }

    /// SRTP of a plaintext RTP packet (header and payload), with the rollover counter 0 and
    /// the packet's own SSRC and sequence number. The authenticated header is what RFC 3550
    /// says it is (CSRCs and extension included), cut at the packet's end if it claims more.
    pub fn protect_rtp(&mut self, packet: &[u8]) -> Result<Vec<u8>, SrtpError> {
        if packet.len() < 12 {
            return Err(SrtpError::TooShort(packet.len()));
        }
        let header_len = rtp_header_len(packet).min(packet.len());
        let mut iv = self.rtp_salt;
        xor(&mut iv[2..6], &packet[8..12]); // SSRC; ROC 0 leaves bytes 6..10 alone
        xor(&mut iv[10..12], &packet[2..4]);
        let (aad, body) = packet.split_at(header_len);
        let mut out = aad.to_vec();
        out.extend(self.rtp.seal(&iv, aad, body));
        Ok(out)
    }

    /// SRTCP of a plaintext (compound) RTCP packet, encrypted (E flag set) under the next
    /// SRTCP index. Only its first 8 bytes are read as header and sender SSRC: the rest may
    /// be anything.
    pub fn protect_rtcp(&mut self, compound: &[u8]) -> Result<Vec<u8>, SrtpError> {
        if compound.len() < 8 {
            return Err(SrtpError::TooShort(compound.len()));
        }
        let index = self.next_srtcp_index;
        self.next_srtcp_index = (index + 1) & 0x7fff_ffff;
        let e_and_index = (0x8000_0000 | index).to_be_bytes();
        let mut iv = self.rtcp_salt;
        xor(&mut iv[2..6], &compound[4..8]);
        xor(&mut iv[8..12], &index.to_be_bytes());
        let mut aad = compound[..8].to_vec();
        aad.extend_from_slice(&e_and_index);
        let mut out = compound[..8].to_vec();
        out.extend(self.rtcp.seal(&iv, &aad, &compound[8..]));
        out.extend_from_slice(&e_and_index);
        Ok(out)
    }
}

fn xor(to: &mut [u8], from: &[u8]) {
    for (t, f) in to.iter_mut().zip(from) {
        *t ^= f;
    }
}

/// Fixed header, CSRCs and header extension (RFC 3550 §5.1, §5.3.1).
fn rtp_header_len(p: &[u8]) -> usize {
    let mut len = 12 + 4 * usize::from(p[0] & 0x0f);
    if p[0] & 0x10 != 0 {
        if let Some(words) = p.get(len + 2..len + 4) {
            len += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
        } else {
            len += 4;
        }
    }
    len
}

#[derive(Debug)]
struct Spy {
    inner: &'static dyn SrtpProvider,
    log: SrtpLog,
    gcm128: &'static Gcm128Spy,
    gcm256: &'static Gcm256Spy,
}

impl SrtpProvider for Spy {
    fn aes_128_cm_sha1_80(&self) -> &'static dyn SupportedAes128CmSha1_80 {
        self.log.record(SrtpProfile::Aes128CmSha1_80);
        self.inner.aes_128_cm_sha1_80()
    }

    fn aead_aes_128_gcm(&self) -> &'static dyn SupportedAeadAes128Gcm {
        self.log.record(SrtpProfile::AeadAes128Gcm);
        self.gcm128
    }

    fn aead_aes_256_gcm(&self) -> &'static dyn SupportedAeadAes256Gcm {
        self.log.record(SrtpProfile::AeadAes256Gcm);
        self.gcm256
    }

    fn srtp_aes_128_ecb_round(&self, key: &[u8], input: &[u8], output: &mut [u8]) {
        self.inner.srtp_aes_128_ecb_round(key, input, output);
        self.log.on_round(key, input, output);
    }

    fn srtp_aes_256_ecb_round(&self, key: &[u8], input: &[u8], output: &mut [u8]) {
        self.inner.srtp_aes_256_ecb_round(key, input, output);
        self.log.on_round(key, input, output);
    }
}

/// Factories and ciphers that note what they encrypt, for both GCM key sizes.
macro_rules! gcm_spy {
    ($factory:ident, $cipher:ident, $supported:ident, $trait:ident, $n:literal) => {
        #[derive(Debug)]
        struct $factory {
            inner: &'static dyn $supported,
            log: SrtpLog,
        }

        impl $supported for $factory {
            fn create_cipher(&self, key: [u8; $n], encrypt: bool) -> Box<dyn $trait> {
                let inner = self.inner.create_cipher(key, encrypt);
                if !encrypt {
                    return inner;
                }
                Box::new($cipher {
                    inner,
                    key: key.to_vec(),
                    log: self.log.clone(),
                    used: false,
                })
            }
        }

        #[derive(Debug)]
        struct $cipher {
            inner: Box<dyn $trait>,
            key: Vec<u8>,
            log: SrtpLog,
            /// Noted once: only RTCP (rare) is noted on every packet, for its index.
            used: bool,
        }

        impl $trait for $cipher {
            fn encrypt(
                &mut self,
                iv: &[u8; 12],
                aad: &[u8],
                input: &[u8],
                output: &mut [u8],
            ) -> Result<(), CryptoError> {
                if !self.used || srtcp_index(aad).is_some() {
                    self.used = true;
                    self.log.on_encrypt(&self.key, aad);
                }
                self.inner.encrypt(iv, aad, input, output)
            }

            fn decrypt(
                &mut self,
                iv: &[u8; 12],
                aads: &[&[u8]],
                input: &[u8],
                output: &mut [u8],
            ) -> Result<usize, CryptoError> {
                self.inner.decrypt(iv, aads, input, output)
            }
        }
    };
}

gcm_spy!(
    Gcm128Spy,
    Gcm128Cipher,
    SupportedAeadAes128Gcm,
    AeadAes128GcmCipher,
    16
);
gcm_spy!(
    Gcm256Spy,
    Gcm256Cipher,
    SupportedAeadAes256Gcm,
    AeadAes256GcmCipher,
    32
);

/// The default crypto provider, with SRTP keying and cipher use recorded in the returned
/// log. Leaks three small spies per call (str0m wants `'static` providers); fine for tests.
pub fn spied_provider() -> (Arc<CryptoProvider>, SrtpLog) {
    let mut provider = from_feature_flags();
    let inner = provider.srtp_provider;
    let log = SrtpLog::default();
    log.lock().provider = Some(inner);
    let spy: &'static Spy = Box::leak(Box::new(Spy {
        inner,
        log: log.clone(),
        gcm128: Box::leak(Box::new(Gcm128Spy {
            inner: inner.aead_aes_128_gcm(),
            log: log.clone(),
        })),
        gcm256: Box::leak(Box::new(Gcm256Spy {
            inner: inner.aead_aes_256_gcm(),
            log: log.clone(),
        })),
    }));
    provider.srtp_provider = spy;
    (Arc::new(provider), log)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    /// RFC 7714 §16.1.1 and §17.1: AEAD_AES_128_GCM, one key and salt for RTP and RTCP.
    #[test]
    fn aes_128_gcm_matches_the_rfc_7714_vectors() {
        let key = hex("000102030405060708090a0b0c0d0e0f");
        let salt: [u8; 12] = hex("517569642070726f2071756f").try_into().unwrap();
        let provider = from_feature_flags().srtp_provider;
        let mut sender = SrtpSender::new(provider, (&key, salt), (&key, salt), 0x5d4);
        let rtp = hex(concat!(
            "8040f17b8041f8d35501a0b247616c6c696120657374206f6d6e69732064697669736120",
            "696e207061727465732074726573"
        ));
        let srtp = hex(concat!(
            "8040f17b8041f8d35501a0b2f24de3a3fb34de6cacba861c9d7e4bcabe633bd50d294e6f",
            "42a5f47a51c7d19b36de3adf8833899d7f27beb16a9152cf765ee4390cce"
        ));
        assert_eq!(sender.protect_rtp(&rtp).unwrap(), srtp);
        let rtcp = hex(concat!(
            "81c8000d4d6172734e5450314e545032525450200000042a0000e9304c756e61deadbeef",
            "deadbeefdeadbeefdeadbeefdeadbeef"
        ));
        let srtcp = hex(concat!(
            "81c8000d4d61727363e94885dcdab67ca727d7662f6b7e997ff5c0f76c06f32dc676a5f1",
            "730d6fda4ce09b4686303ded0bb9275bc84aa45896cf4d2fc5abf87245d9eade800005d4"
        ));
        assert_eq!(sender.protect_rtcp(&rtcp).unwrap(), srtcp);
        assert_eq!(sender.protect_rtcp(&rtcp[..7]), Err(SrtpError::TooShort(7)));
    }

    #[test]
    fn a_sender_needs_keys_and_a_gcm_profile() {
        let log = SrtpLog::default();
        assert_eq!(log.sender().err(), Some(SrtpError::NotNegotiated));
        log.record(SrtpProfile::AeadAes256Gcm);
        assert_eq!(log.sender().err(), Some(SrtpError::NothingSentYet));
        log.record(SrtpProfile::Aes128CmSha1_80);
        assert_eq!(
            log.sender().err(),
            Some(SrtpError::NotNegotiated),
            "ambiguous"
        );
        let cm = SrtpLog::default();
        cm.record(SrtpProfile::Aes128CmSha1_80);
        let err = cm.sender().err();
        assert_eq!(
            err,
            Some(SrtpError::UnsupportedProfile(SrtpProfile::Aes128CmSha1_80))
        );
    }
}
