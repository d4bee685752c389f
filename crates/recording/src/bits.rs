//! Bit-level readers shared by the header parsers: an MSB-first bit reader with
//! Exp-Golomb codes (H.264 SPS, VP9 and AV1 headers) and LEB128 (AV1 OBU sizes).
//! Every read is checked: running off the end is an error, never a panic.

/// The input ended before a field did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Truncated;

/// Reads bits most significant first.
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits from the start of `data`.
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub(crate) fn bit(&mut self) -> Result<bool, Truncated> {
        let byte = self.data.get(self.pos / 8).ok_or(Truncated)?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Ok(bit == 1)
    }

    /// `n` bits (at most 32) as an unsigned number.
    pub(crate) fn bits(&mut self, n: u32) -> Result<u32, Truncated> {
        debug_assert!(n <= 32);
        let mut value = 0u64;
        for _ in 0..n {
            value = (value << 1) | u64::from(self.bit()?);
        }
        // At most 32 bits were shifted in.
        Ok(value as u32)
    }

    pub(crate) fn skip(&mut self, n: usize) -> Result<(), Truncated> {
        let end = self.pos.checked_add(n).ok_or(Truncated)?;
        if end > self.data.len() * 8 {
            return Err(Truncated);
        }
        self.pos = end;
        Ok(())
    }

    /// Unsigned Exp-Golomb `ue(v)`, limited to 32-bit values (more leading zeros than
    /// that is not a valid H.264 syntax element).
    pub(crate) fn ue(&mut self) -> Result<u32, Truncated> {
        let mut zeros = 0u32;
        while !self.bit()? {
            zeros += 1;
            if zeros > 31 {
                return Err(Truncated);
            }
        }
        let rest = u64::from(self.bits(zeros)?);
        let value = (1u64 << zeros) - 1 + rest;
        u32::try_from(value).map_err(|_| Truncated)
    }

    /// Signed Exp-Golomb `se(v)`.
    pub(crate) fn se(&mut self) -> Result<i32, Truncated> {
        let k = i64::from(self.ue()?);
        let value = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        i32::try_from(value).map_err(|_| Truncated)
    }

    /// AV1's `uvlc()`: like `ue(v)` but a run of 32 zeros means 2^32 - 1.
    pub(crate) fn uvlc(&mut self) -> Result<u32, Truncated> {
        let mut zeros = 0u32;
        while !self.bit()? {
            zeros += 1;
            if zeros >= 32 {
                return Ok(u32::MAX);
            }
        }
        let rest = u64::from(self.bits(zeros)?);
        Ok(((1u64 << zeros) - 1 + rest).min(u64::from(u32::MAX)) as u32)
    }
}

/// Removes H.264 emulation prevention bytes (`00 00 03` → `00 00`) so the RBSP can be
/// read bit by bit.
pub(crate) fn unescape_rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Reads an AV1 `leb128()` (at most 8 bytes, value below 2^32 as the AV1 spec requires):
/// the value and the number of bytes it took.
pub(crate) fn read_leb128(data: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in data.iter().take(8).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return (value <= u64::from(u32::MAX)).then_some((value, i + 1));
        }
    }
    None
}

/// Appends `value` as LEB128 in the fewest bytes.
pub(crate) fn write_leb128(mut value: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb_codes() {
        // 1 | 010 | 011 | 00100 | 00101 → ue 0, 1, 2, 3, 4
        let data = [0b1010_0110, 0b0100_0010, 0b1000_0000];
        let mut r = BitReader::new(&data);
        assert_eq!(r.ue(), Ok(0));
        assert_eq!(r.ue(), Ok(1));
        assert_eq!(r.ue(), Ok(2));
        assert_eq!(r.ue(), Ok(3));
        assert_eq!(r.ue(), Ok(4));
        // se: 1 → 0, 010 → 1, 011 → -1
        let mut r = BitReader::new(&[0b1010_0110]);
        assert_eq!(r.se(), Ok(0));
        assert_eq!(r.se(), Ok(1));
        assert_eq!(r.se(), Ok(-1));
    }

    #[test]
    fn reads_past_the_end_fail() {
        let mut r = BitReader::new(&[0xff]);
        assert_eq!(r.bits(8), Ok(0xff));
        assert_eq!(r.bit(), Err(Truncated));
        assert_eq!(BitReader::new(&[0, 0, 0, 0, 0]).ue(), Err(Truncated));
        assert_eq!(BitReader::new(&[]).skip(1), Err(Truncated));
    }

    #[test]
    fn leb128_round_trip() {
        for v in [0u64, 1, 127, 128, 300, 16_383, 16_384, u64::from(u32::MAX)] {
            let mut out = Vec::new();
            write_leb128(v, &mut out);
            assert_eq!(read_leb128(&out), Some((v, out.len())), "{v}");
        }
        assert_eq!(read_leb128(&[0x80]), None);
        assert_eq!(read_leb128(&[0xff; 9]), None);
    }

    #[test]
    fn emulation_prevention_is_removed() {
        assert_eq!(
            unescape_rbsp(&[0, 0, 3, 1, 0, 0, 3, 0, 3]),
            [0, 0, 1, 0, 0, 0, 3]
        );
    }
}
