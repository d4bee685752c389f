//! A most-significant-bit-first reader for the bit-packed headers (AudioSpecificConfig,
//! the first fields of an H.264 SPS or PPS). Every read checks the length: `None` means the
//! input ended.

/// Reads bits from a byte slice, most significant bit first.
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits from the start of `data`.
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// Bits not read yet.
    pub(crate) fn remaining(&self) -> usize {
        (self.data.len() * 8).saturating_sub(self.pos)
    }

    /// Reads `n` bits (at most 32) as an unsigned number.
    pub(crate) fn read(&mut self, n: u32) -> Option<u32> {
        if n > 32 || self.remaining() < n as usize {
            return None;
        }
        let mut value: u64 = 0;
        for _ in 0..n {
            let byte = *self.data.get(self.pos / 8)?;
            let bit = (byte >> (7 - (self.pos % 8))) & 1;
            value = (value << 1) | u64::from(bit);
            self.pos += 1;
        }
        u32::try_from(value).ok()
    }

    /// Reads one bit as a flag.
    pub(crate) fn flag(&mut self) -> Option<bool> {
        self.read(1).map(|b| b == 1)
    }

    /// Looks at the next `n` bits without consuming them.
    pub(crate) fn peek(&self, n: u32) -> Option<u32> {
        let mut copy = BitReader {
            data: self.data,
            pos: self.pos,
        };
        copy.read(n)
    }

    /// Reads an unsigned Exp-Golomb code (`ue(v)` of H.264 §9.1), up to 2^32 - 2.
    pub(crate) fn read_ue(&mut self) -> Option<u32> {
        let mut leading_zeros = 0u32;
        while !self.flag()? {
            leading_zeros += 1;
            if leading_zeros > 31 {
                return None;
            }
        }
        let rest = self.read(leading_zeros)?;
        // 2^lz - 1 + rest, computed without overflow for lz = 31.
        let base = (1u64 << leading_zeros) - 1;
        u32::try_from(base + u64::from(rest)).ok()
    }
}

/// Removes H.264 emulation prevention bytes (`00 00 03` → `00 00`) from the first `limit`
/// bytes of a NAL unit payload, enough to read the leading fields of a parameter set.
pub(crate) fn unescape_rbsp(data: &[u8], limit: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len().min(limit));
    let mut zeros = 0usize;
    for &b in data.iter().take(limit) {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bits_across_bytes() {
        let mut r = BitReader::new(&[0b1010_1100, 0b0101_0000]);
        assert_eq!(r.read(3), Some(0b101));
        assert_eq!(r.read(7), Some(0b011_0001));
        assert_eq!(r.remaining(), 6);
        assert_eq!(r.peek(2), Some(0b01));
        assert_eq!(r.read(6), Some(0b010000));
        assert_eq!(r.read(1), None);
    }

    #[test]
    fn exp_golomb() {
        // 1 → 0, 010 → 1, 011 → 2, 00100 → 3, 00111 → 6
        let mut r = BitReader::new(&[0b1010_0110, 0b0100_0011, 0b1000_0000]);
        assert_eq!(r.read_ue(), Some(0));
        assert_eq!(r.read_ue(), Some(1));
        assert_eq!(r.read_ue(), Some(2));
        assert_eq!(r.read_ue(), Some(3));
        assert_eq!(r.read_ue(), Some(6));
        // All zeros: never terminates within 32 bits.
        assert_eq!(BitReader::new(&[0; 8]).read_ue(), None);
        assert_eq!(BitReader::new(&[]).read_ue(), None);
    }

    #[test]
    fn unescape() {
        assert_eq!(
            unescape_rbsp(&[0, 0, 3, 1, 0, 0, 3], 100),
            vec![0, 0, 1, 0, 0]
        );
        assert_eq!(unescape_rbsp(&[1, 2, 3, 4], 2), vec![1, 2]);
    }
}
