//! Base45 (RFC 9285): the QR alphanumeric-friendly text encoding of the compressed pass.

use thiserror::Error;

const ALPHABET: &[u8; 45] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

/// Why a text is not valid base45.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Base45Error {
    #[error("character {character:?} at {position} is not in the base45 alphabet")]
    InvalidCharacter { position: usize, character: char },
    #[error("length {0} leaves a single dangling character")]
    DanglingCharacter(usize),
    #[error("group at {0} encodes a value larger than its byte count allows")]
    Overflow(usize),
}

/// Encodes bytes as base45.
pub fn encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(2) * 3);
    let mut chunks = data.chunks_exact(2);
    for pair in &mut chunks {
        let n = u32::from(pair[0]) * 256 + u32::from(pair[1]);
        push_digits(&mut out, n, 3);
    }
    if let [last] = chunks.remainder() {
        push_digits(&mut out, u32::from(*last), 2);
    }
    out
}

fn push_digits(out: &mut String, mut n: u32, count: usize) {
    for _ in 0..count {
        out.push(char::from(ALPHABET[(n % 45) as usize]));
        n /= 45;
    }
}

fn value(position: usize, byte: u8) -> Result<u32, Base45Error> {
    let v = match byte {
        b'0'..=b'9' => byte - b'0',
        b'A'..=b'Z' => byte - b'A' + 10,
        b' ' => 36,
        b'$' => 37,
        b'%' => 38,
        b'*' => 39,
        b'+' => 40,
        b'-' => 41,
        b'.' => 42,
        b'/' => 43,
        b':' => 44,
        _ => {
            return Err(Base45Error::InvalidCharacter {
                position,
                character: char::from(byte),
            });
        }
    };
    Ok(u32::from(v))
}

/// Decodes base45 text; lower case is not accepted (RFC 9285 §4).
pub fn decode(text: &str) -> Result<Vec<u8>, Base45Error> {
    let bytes = text.as_bytes();
    if bytes.len() % 3 == 1 {
        return Err(Base45Error::DanglingCharacter(bytes.len()));
    }
    let mut out = Vec::with_capacity(bytes.len() / 3 * 2 + 1);
    for (index, group) in bytes.chunks(3).enumerate() {
        let start = index * 3;
        let mut n = 0u32;
        let mut weight = 1u32;
        for (offset, &b) in group.iter().enumerate() {
            n += value(start + offset, b)? * weight;
            weight *= 45;
        }
        if group.len() == 3 {
            let pair = u16::try_from(n).map_err(|_| Base45Error::Overflow(start))?;
            out.extend_from_slice(&pair.to_be_bytes());
        } else {
            let single = u8::try_from(n).map_err(|_| Base45Error::Overflow(start))?;
            out.push(single);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9285_examples() {
        assert_eq!(encode(b"AB"), "BB8");
        assert_eq!(encode(b"Hello!!"), "%69 VD92EX0");
        assert_eq!(encode(b"base-45"), "UJCLQE7W581");
        assert_eq!(decode("QED8WEX0").unwrap(), b"ietf!");
        assert_eq!(decode("").unwrap(), b"");
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(decode("GGW"), Err(Base45Error::Overflow(0)));
        assert_eq!(decode("ABCD"), Err(Base45Error::DanglingCharacter(4)));
        assert!(matches!(
            decode("ab"),
            Err(Base45Error::InvalidCharacter { position: 0, .. })
        ));
        // Two trailing characters may only encode one byte.
        assert_eq!(decode(":::").unwrap_err(), Base45Error::Overflow(0));
        assert_eq!(decode("::"), Err(Base45Error::Overflow(0)));
    }
}
