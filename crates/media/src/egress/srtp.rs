//! SRTP and SRTCP for Podium's own egress (RFC 3711, RFC 7714), over aws-lc-rs.
//!
//! One [`SrtpContext`] is one direction of one DTLS-SRTP session: the SFU protects what it
//! sends to a viewer with the server half of the exported keying material and opens the
//! viewer's RTCP with the client half. Protection works in place on a caller's buffer, so a
//! forwarded copy costs no allocation: AES-GCM seals the payload behind the header (the
//! header, extensions included, is the associated data) and appends the 16-byte tag.
//!
//! Only what Podium needs: no MKI, key derivation rate 0 (WebRTC's), no replay window on
//! the RTP side (Podium never receives RTP through this), SRTCP replay checked by index.

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{EncryptingKey, EncryptionContext, UnboundCipherKey, AES_128, AES_256};
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;

/// The DTLS-SRTP protection profiles str0m negotiates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// SRTP_AES128_CM_HMAC_SHA1_80 (RFC 5764).
    Aes128CmSha1_80,
    /// SRTP_AEAD_AES_128_GCM (RFC 7714).
    AeadAes128Gcm,
    /// SRTP_AEAD_AES_256_GCM (RFC 7714).
    AeadAes256Gcm,
}

impl Profile {
    /// Master key length.
    pub fn key_len(self) -> usize {
        match self {
            Profile::Aes128CmSha1_80 | Profile::AeadAes128Gcm => 16,
            Profile::AeadAes256Gcm => 32,
        }
    }

    /// Master salt length.
    pub fn salt_len(self) -> usize {
        match self {
            Profile::Aes128CmSha1_80 => 14,
            Profile::AeadAes128Gcm | Profile::AeadAes256Gcm => 12,
        }
    }

    /// Bytes an SRTP packet grows by.
    pub fn rtp_overhead(self) -> usize {
        match self {
            Profile::Aes128CmSha1_80 => CM_TAG_LEN,
            Profile::AeadAes128Gcm | Profile::AeadAes256Gcm => GCM_TAG_LEN,
        }
    }

    /// Bytes an SRTCP packet grows by (tag and E|index word).
    pub fn rtcp_overhead(self) -> usize {
        self.rtp_overhead() + 4
    }
}

const GCM_TAG_LEN: usize = 16;
const CM_TAG_LEN: usize = 10;
/// SRTCP's E flag: the packet is encrypted.
const E_FLAG: u32 = 0x8000_0000;

/// Why a packet could not be protected or opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SrtpError {
    /// The keys do not fit the profile (or the cipher refused them).
    #[error("keying material of the wrong length")]
    BadKeys,
    /// Shorter than a header and a tag.
    #[error("packet too short")]
    TooShort,
    /// The tag does not match: forged, corrupted or another session's.
    #[error("authentication failed")]
    Auth,
    /// An SRTCP index already seen or too old.
    #[error("replayed or too old")]
    Replay,
}

/// The six key-derivation labels of RFC 3711 §4.3.1.
#[derive(Clone, Copy)]
enum Label {
    RtpEncryption = 0,
    RtpAuth = 1,
    RtpSalt = 2,
    RtcpEncryption = 3,
    RtcpAuth = 4,
    RtcpSalt = 5,
}

/// RFC 3711's AES-CM PRF with key derivation rate 0: the session key for `label` is the
/// keystream of the master key at IV = (master salt, padded to 14 bytes, XOR label at byte
/// 7) · 2^16. A 12-byte (GCM) master salt is padded with zeros, as RFC 7714 §11 says.
fn derive(
    master_key: &[u8],
    master_salt: &[u8],
    label: Label,
    out: &mut [u8],
) -> Result<(), SrtpError> {
    let mut iv = [0u8; 16];
    iv[..master_salt.len()].copy_from_slice(master_salt);
    iv[7] ^= label as u8;
    let algorithm = match master_key.len() {
        16 => &AES_128,
        32 => &AES_256,
        _ => return Err(SrtpError::BadKeys),
    };
    let key = UnboundCipherKey::new(algorithm, master_key).map_err(|_| SrtpError::BadKeys)?;
    let key = EncryptingKey::ctr(key).map_err(|_| SrtpError::BadKeys)?;
    out.fill(0);
    key.less_safe_encrypt(out, EncryptionContext::Iv128(FixedLength::from(iv)))
        .map_err(|_| SrtpError::BadKeys)?;
    Ok(())
}

/// One direction's session keys for RTP and RTCP.
enum Keys {
    Gcm {
        rtp: LessSafeKey,
        rtp_salt: [u8; 12],
        rtcp: LessSafeKey,
        rtcp_salt: [u8; 12],
    },
    /// Boxed: rarer (browsers offer GCM) and larger.
    Cm(Box<CmKeys>),
}

struct CmKeys {
    rtp: EncryptingKey,
    rtp_auth: hmac::Key,
    rtp_salt: [u8; 14],
    rtcp: EncryptingKey,
    rtcp_auth: hmac::Key,
    rtcp_salt: [u8; 14],
}

/// One direction of an SRTP session.
pub struct SrtpContext {
    profile: Profile,
    keys: Keys,
    /// SRTCP replay window (opening side): highest index seen and a bitmap of the 64 below.
    rtcp_highest: Option<u32>,
    rtcp_window: u64,
}

impl std::fmt::Debug for SrtpContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrtpContext")
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

impl SrtpContext {
    /// A context from a master key and salt of `profile`'s lengths.
    pub fn new(profile: Profile, master_key: &[u8], master_salt: &[u8]) -> Result<Self, SrtpError> {
        if master_key.len() != profile.key_len() || master_salt.len() != profile.salt_len() {
            return Err(SrtpError::BadKeys);
        }
        let keys = match profile {
            Profile::AeadAes128Gcm | Profile::AeadAes256Gcm => {
                let algorithm = if profile == Profile::AeadAes128Gcm {
                    &aead::AES_128_GCM
                } else {
                    &aead::AES_256_GCM
                };
                let aead_key = |label: Label| -> Result<LessSafeKey, SrtpError> {
                    let mut k = [0u8; 32];
                    let k = &mut k[..profile.key_len()];
                    derive(master_key, master_salt, label, k)?;
                    let unbound = UnboundKey::new(algorithm, k).map_err(|_| SrtpError::BadKeys)?;
                    Ok(LessSafeKey::new(unbound))
                };
                let salt = |label: Label| -> Result<[u8; 12], SrtpError> {
                    let mut s = [0u8; 12];
                    derive(master_key, master_salt, label, &mut s)?;
                    Ok(s)
                };
                Keys::Gcm {
                    rtp: aead_key(Label::RtpEncryption)?,
                    rtp_salt: salt(Label::RtpSalt)?,
                    rtcp: aead_key(Label::RtcpEncryption)?,
                    rtcp_salt: salt(Label::RtcpSalt)?,
                }
            }
            Profile::Aes128CmSha1_80 => {
                let cipher = |label: Label| -> Result<EncryptingKey, SrtpError> {
                    let mut k = [0u8; 16];
                    derive(master_key, master_salt, label, &mut k)?;
                    let unbound =
                        UnboundCipherKey::new(&AES_128, &k).map_err(|_| SrtpError::BadKeys)?;
                    EncryptingKey::ctr(unbound).map_err(|_| SrtpError::BadKeys)
                };
                let auth = |label: Label| -> Result<hmac::Key, SrtpError> {
                    let mut k = [0u8; 20];
                    derive(master_key, master_salt, label, &mut k)?;
                    Ok(hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &k))
                };
                let salt = |label: Label| -> Result<[u8; 14], SrtpError> {
                    let mut s = [0u8; 14];
                    derive(master_key, master_salt, label, &mut s)?;
                    Ok(s)
                };
                Keys::Cm(Box::new(CmKeys {
                    rtp: cipher(Label::RtpEncryption)?,
                    rtp_auth: auth(Label::RtpAuth)?,
                    rtp_salt: salt(Label::RtpSalt)?,
                    rtcp: cipher(Label::RtcpEncryption)?,
                    rtcp_auth: auth(Label::RtcpAuth)?,
                    rtcp_salt: salt(Label::RtcpSalt)?,
                }))
            }
        };
        Ok(Self {
            profile,
            keys,
            rtcp_highest: None,
            rtcp_window: 0,
        })
    }

    /// The negotiated profile.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// Protects the RTP packet in `buf` (header of `header_len` bytes, then payload) in place
    /// and appends the tag. `roc` is the rollover counter of its sequence number.
    pub fn protect_rtp(
        &self,
        buf: &mut Vec<u8>,
        header_len: usize,
        roc: u32,
    ) -> Result<(), SrtpError> {
        if buf.len() < 12 || header_len > buf.len() {
            return Err(SrtpError::TooShort);
        }
        let ssrc = [buf[8], buf[9], buf[10], buf[11]];
        let seq = [buf[2], buf[3]];
        match &self.keys {
            Keys::Gcm { rtp, rtp_salt, .. } => {
                let iv = gcm_rtp_iv(rtp_salt, ssrc, roc, seq);
                let (header, payload) = buf.split_at_mut(header_len);
                let tag = rtp
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(iv),
                        Aad::from(&*header),
                        payload,
                    )
                    .map_err(|_| SrtpError::BadKeys)?;
                buf.extend_from_slice(tag.as_ref());
            }
            Keys::Cm(cm) => {
                let CmKeys {
                    rtp,
                    rtp_auth,
                    rtp_salt,
                    ..
                } = &**cm;
                let index = (u64::from(roc) << 16) | u64::from(u16::from_be_bytes(seq));
                let iv = cm_iv(rtp_salt, ssrc, index);
                rtp.less_safe_encrypt(
                    &mut buf[header_len..],
                    EncryptionContext::Iv128(FixedLength::from(iv)),
                )
                .map_err(|_| SrtpError::BadKeys)?;
                let mut mac = hmac::Context::with_key(rtp_auth);
                mac.update(buf);
                mac.update(&roc.to_be_bytes());
                let tag = mac.sign();
                buf.extend_from_slice(&tag.as_ref()[..CM_TAG_LEN]);
            }
        }
        Ok(())
    }

    /// Opens an SRTP packet in place (for clients and tests: the SFU never receives RTP
    /// through its egress): returns the plaintext length, header included.
    pub fn unprotect_rtp(
        &self,
        buf: &mut [u8],
        header_len: usize,
        roc: u32,
    ) -> Result<usize, SrtpError> {
        let overhead = self.profile.rtp_overhead();
        if buf.len() < 12 || header_len + overhead > buf.len() {
            return Err(SrtpError::TooShort);
        }
        let ssrc = [buf[8], buf[9], buf[10], buf[11]];
        let seq = [buf[2], buf[3]];
        match &self.keys {
            Keys::Gcm { rtp, rtp_salt, .. } => {
                let iv = gcm_rtp_iv(rtp_salt, ssrc, roc, seq);
                let (header, rest) = buf.split_at_mut(header_len);
                let plain = rtp
                    .open_in_place(Nonce::assume_unique_for_key(iv), Aad::from(&*header), rest)
                    .map_err(|_| SrtpError::Auth)?;
                Ok(header_len + plain.len())
            }
            Keys::Cm(cm) => {
                let CmKeys {
                    rtp,
                    rtp_auth,
                    rtp_salt,
                    ..
                } = &**cm;
                let end = buf.len() - CM_TAG_LEN;
                let mut mac = hmac::Context::with_key(rtp_auth);
                mac.update(&buf[..end]);
                mac.update(&roc.to_be_bytes());
                if !constant_time_eq(&mac.sign().as_ref()[..CM_TAG_LEN], &buf[end..]) {
                    return Err(SrtpError::Auth);
                }
                let index = (u64::from(roc) << 16) | u64::from(u16::from_be_bytes(seq));
                let iv = cm_iv(rtp_salt, ssrc, index);
                rtp.less_safe_encrypt(
                    &mut buf[header_len..end],
                    EncryptionContext::Iv128(FixedLength::from(iv)),
                )
                .map_err(|_| SrtpError::BadKeys)?;
                Ok(end)
            }
        }
    }

    /// Protects the (compound) RTCP packet in `buf` in place with SRTCP `index` (31 bits).
    pub fn protect_rtcp(&self, buf: &mut Vec<u8>, index: u32) -> Result<(), SrtpError> {
        if buf.len() < 8 {
            return Err(SrtpError::TooShort);
        }
        let ssrc = [buf[4], buf[5], buf[6], buf[7]];
        let e_index = (E_FLAG | (index & !E_FLAG)).to_be_bytes();
        match &self.keys {
            Keys::Gcm {
                rtcp, rtcp_salt, ..
            } => {
                let iv = gcm_rtcp_iv(rtcp_salt, ssrc, index);
                let mut aad = [0u8; 12];
                aad[..8].copy_from_slice(&buf[..8]);
                aad[8..].copy_from_slice(&e_index);
                let tag = rtcp
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(iv),
                        Aad::from(aad),
                        &mut buf[8..],
                    )
                    .map_err(|_| SrtpError::BadKeys)?;
                buf.extend_from_slice(tag.as_ref());
                buf.extend_from_slice(&e_index);
            }
            Keys::Cm(cm) => {
                let CmKeys {
                    rtcp,
                    rtcp_auth,
                    rtcp_salt,
                    ..
                } = &**cm;
                let iv = cm_iv(rtcp_salt, ssrc, u64::from(index & !E_FLAG));
                rtcp.less_safe_encrypt(
                    &mut buf[8..],
                    EncryptionContext::Iv128(FixedLength::from(iv)),
                )
                .map_err(|_| SrtpError::BadKeys)?;
                buf.extend_from_slice(&e_index);
                let tag = hmac::sign(rtcp_auth, buf);
                buf.extend_from_slice(&tag.as_ref()[..CM_TAG_LEN]);
            }
        }
        Ok(())
    }

    /// Opens an SRTCP packet in place: returns the length of the plain compound RTCP at the
    /// start of `buf`. Refuses forgeries and replays (a window of 64 indexes).
    pub fn unprotect_rtcp(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        let overhead = self.profile.rtcp_overhead();
        if buf.len() < 8 + overhead {
            return Err(SrtpError::TooShort);
        }
        let ssrc = [buf[4], buf[5], buf[6], buf[7]];
        let plain_len = match &self.keys {
            Keys::Gcm {
                rtcp, rtcp_salt, ..
            } => {
                let idx_at = buf.len() - 4;
                let e_index = u32::from_be_bytes([
                    buf[idx_at],
                    buf[idx_at + 1],
                    buf[idx_at + 2],
                    buf[idx_at + 3],
                ]);
                let index = e_index & !E_FLAG;
                self.check_replay(index)?;
                let mut aad = [0u8; 12];
                aad[..8].copy_from_slice(&buf[..8]);
                aad[8..].copy_from_slice(&e_index.to_be_bytes());
                let iv = gcm_rtcp_iv(rtcp_salt, ssrc, index);
                let body = &mut buf[8..idx_at];
                let plain = if e_index & E_FLAG != 0 {
                    rtcp.open_in_place(Nonce::assume_unique_for_key(iv), Aad::from(aad), body)
                        .map_err(|_| SrtpError::Auth)?
                        .len()
                } else {
                    // Unencrypted SRTCP: the whole body is associated data, only a tag.
                    return Err(SrtpError::Auth);
                };
                self.accept_index(index);
                8 + plain
            }
            Keys::Cm(cm) => {
                let CmKeys {
                    rtcp,
                    rtcp_auth,
                    rtcp_salt,
                    ..
                } = &**cm;
                let tag_at = buf.len() - CM_TAG_LEN;
                let idx_at = tag_at - 4;
                // The tag is truncated to 80 bits, so `hmac::verify` (full tags) does not apply.
                let tag = hmac::sign(rtcp_auth, &buf[..tag_at]);
                if !constant_time_eq(&tag.as_ref()[..CM_TAG_LEN], &buf[tag_at..]) {
                    return Err(SrtpError::Auth);
                }
                let e_index = u32::from_be_bytes([
                    buf[idx_at],
                    buf[idx_at + 1],
                    buf[idx_at + 2],
                    buf[idx_at + 3],
                ]);
                let index = e_index & !E_FLAG;
                self.check_replay(index)?;
                if e_index & E_FLAG != 0 {
                    let iv = cm_iv(rtcp_salt, ssrc, u64::from(index));
                    rtcp.less_safe_encrypt(
                        &mut buf[8..idx_at],
                        EncryptionContext::Iv128(FixedLength::from(iv)),
                    )
                    .map_err(|_| SrtpError::BadKeys)?;
                }
                self.accept_index(index);
                idx_at
            }
        };
        Ok(plain_len)
    }

    fn check_replay(&self, index: u32) -> Result<(), SrtpError> {
        let Some(highest) = self.rtcp_highest else {
            return Ok(());
        };
        if index > highest {
            return Ok(());
        }
        let age = highest - index;
        if age >= 64 || self.rtcp_window & (1 << age) != 0 {
            return Err(SrtpError::Replay);
        }
        Ok(())
    }

    fn accept_index(&mut self, index: u32) {
        match self.rtcp_highest {
            Some(highest) if index <= highest => self.rtcp_window |= 1 << (highest - index),
            Some(highest) => {
                let shift = index - highest;
                self.rtcp_window = if shift >= 64 {
                    0
                } else {
                    self.rtcp_window << shift
                };
                self.rtcp_window |= 1;
                self.rtcp_highest = Some(index);
            }
            None => {
                self.rtcp_window = 1;
                self.rtcp_highest = Some(index);
            }
        }
    }
}

/// AES-CM IV (RFC 3711 §4.1.1): salt · 2^16 XOR SSRC · 2^64 XOR index · 2^16.
fn cm_iv(salt: &[u8; 14], ssrc: [u8; 4], index: u64) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[..14].copy_from_slice(salt);
    for (i, b) in ssrc.iter().enumerate() {
        iv[4 + i] ^= b;
    }
    let index = index.to_be_bytes();
    // The 48-bit index at bytes 8..14.
    for i in 0..6 {
        iv[8 + i] ^= index[2 + i];
    }
    iv
}

/// AES-GCM SRTP IV (RFC 7714 §8.1): 00 00 || SSRC || ROC || SEQ, XOR salt.
fn gcm_rtp_iv(salt: &[u8; 12], ssrc: [u8; 4], roc: u32, seq: [u8; 2]) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[2..6].copy_from_slice(&ssrc);
    iv[6..10].copy_from_slice(&roc.to_be_bytes());
    iv[10..12].copy_from_slice(&seq);
    xor(&mut iv, salt);
    iv
}

/// AES-GCM SRTCP IV (RFC 7714 §9.1): 00 00 || SSRC || 00 00 || index, XOR salt.
fn gcm_rtcp_iv(salt: &[u8; 12], ssrc: [u8; 4], index: u32) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[2..6].copy_from_slice(&ssrc);
    iv[8..12].copy_from_slice(&(index & !E_FLAG).to_be_bytes());
    xor(&mut iv, salt);
    iv
}

fn xor(a: &mut [u8], b: &[u8]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x ^= y;
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The two directions of a DTLS-SRTP session, from the exported keying material
/// (RFC 5764 §4.2: client key, server key, client salt, server salt).
pub fn session_pair(
    profile: Profile,
    material: &[u8],
    local_is_client: bool,
) -> Result<(SrtpContext, SrtpContext), SrtpError> {
    let (kl, sl) = (profile.key_len(), profile.salt_len());
    if material.len() < 2 * (kl + sl) {
        return Err(SrtpError::BadKeys);
    }
    let client_key = &material[..kl];
    let server_key = &material[kl..2 * kl];
    let client_salt = &material[2 * kl..2 * kl + sl];
    let server_salt = &material[2 * kl + sl..2 * (kl + sl)];
    let client = (client_key, client_salt);
    let server = (server_key, server_salt);
    let (local, remote) = if local_is_client {
        (client, server)
    } else {
        (server, client)
    };
    Ok((
        SrtpContext::new(profile, local.0, local.1)?,
        SrtpContext::new(profile, remote.0, remote.1)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3711 Appendix B.3: the AES-CM key derivation test vectors.
    #[test]
    fn key_derivation_matches_rfc3711() {
        let master_key = hex("E1F97A0D3E018BE0D64FA32C06DE4139");
        let master_salt = hex("0EC675AD498AFEEBB6960B3AABE6");
        let mut enc = [0u8; 16];
        derive(&master_key, &master_salt, Label::RtpEncryption, &mut enc).unwrap();
        assert_eq!(enc.to_vec(), hex("C61E7A93744F39EE10734AFE3FF7A087"));
        let mut salt = [0u8; 14];
        derive(&master_key, &master_salt, Label::RtpSalt, &mut salt).unwrap();
        assert_eq!(salt.to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));
        let mut auth = [0u8; 20];
        derive(&master_key, &master_salt, Label::RtpAuth, &mut auth).unwrap();
        assert_eq!(
            auth.to_vec(),
            hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4")
        );
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn rtp(seq: u16, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, 111, 0, 0, 0, 0, 0, 7, 0x12, 0x34, 0x56, 0x78];
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    fn contexts(profile: Profile) -> (SrtpContext, SrtpContext) {
        let material: Vec<u8> = (0..2 * (profile.key_len() + profile.salt_len()))
            .map(|i| (i as u8).wrapping_mul(7).wrapping_add(3))
            .collect();
        let (server_tx, _) = session_pair(profile, &material, false).unwrap();
        let (_, client_rx) = session_pair(profile, &material, true).unwrap();
        (server_tx, client_rx)
    }

    #[test]
    fn rtp_round_trips_and_refuses_tampering() {
        for profile in [
            Profile::AeadAes128Gcm,
            Profile::AeadAes256Gcm,
            Profile::Aes128CmSha1_80,
        ] {
            let (tx, rx) = contexts(profile);
            let plain = rtp(65535, b"hello world, some opus");
            let mut buf = plain.clone();
            tx.protect_rtp(&mut buf, 12, 3).unwrap();
            assert_eq!(buf.len(), plain.len() + profile.rtp_overhead());
            assert_ne!(&buf[12..plain.len()], &plain[12..], "{profile:?} encrypts");
            let mut tampered = buf.clone();
            tampered[14] ^= 1;
            assert_eq!(rx.unprotect_rtp(&mut tampered, 12, 3), Err(SrtpError::Auth));
            let mut wrong_roc = buf.clone();
            assert_eq!(
                rx.unprotect_rtp(&mut wrong_roc, 12, 2),
                Err(SrtpError::Auth)
            );
            let n = rx.unprotect_rtp(&mut buf, 12, 3).unwrap();
            assert_eq!(&buf[..n], &plain[..], "{profile:?}");
        }
    }

    #[test]
    fn rtcp_round_trips_and_refuses_replays() {
        for profile in [
            Profile::AeadAes128Gcm,
            Profile::AeadAes256Gcm,
            Profile::Aes128CmSha1_80,
        ] {
            let (tx, mut rx) = contexts(profile);
            // A PLI: header, sender SSRC, media SSRC.
            let plain = vec![0x81, 206, 0, 2, 0, 0, 0, 1, 0x12, 0x34, 0x56, 0x78];
            let mut protected = Vec::new();
            for index in [5u32, 3, 70] {
                let mut buf = plain.clone();
                tx.protect_rtcp(&mut buf, index).unwrap();
                protected.push(buf);
            }
            for buf in &protected {
                let mut b = buf.clone();
                let n = rx.unprotect_rtcp(&mut b).unwrap();
                assert_eq!(&b[..n], &plain[..], "{profile:?}");
            }
            // Replays: the same index again, and one fallen out of the window.
            let mut again = protected[2].clone();
            assert_eq!(rx.unprotect_rtcp(&mut again), Err(SrtpError::Replay));
            let mut old = plain.clone();
            tx.protect_rtcp(&mut old, 4).unwrap();
            assert_eq!(rx.unprotect_rtcp(&mut old), Err(SrtpError::Replay));
            let mut forged = plain.clone();
            tx.protect_rtcp(&mut forged, 71).unwrap();
            forged[9] ^= 0x40;
            assert_eq!(rx.unprotect_rtcp(&mut forged), Err(SrtpError::Auth));
            let mut short = vec![0x81, 206, 0, 2];
            assert_eq!(rx.unprotect_rtcp(&mut short), Err(SrtpError::TooShort));
        }
    }
}
