//! zlib, with a cap on the decompressed size so that a zlib bomb costs bounded memory.

use std::io::Read;

use std::cell::RefCell;

use flate2::read::ZlibDecoder;
use flate2::{Compress, Compression, FlushCompress, Status};
use thiserror::Error;

/// Largest decompressed COSE message accepted. EU certificates are a few hundred bytes and a QR
/// code holds under 3 KB of compressed data, so 64 KiB leaves room for any honest input.
pub const MAX_DECOMPRESSED: usize = 64 * 1024;

/// Default level for our passes: 0, stored. A pass is ~200 bytes, mostly signature, serial and
/// pseudonym, which do not compress: every level gives the same 215 bytes, and deflating costs
/// more than signing (docs/BENCHMARKS.md). The stream is still zlib, so any verifier reads it.
pub const PASS_LEVEL: u32 = 0;

/// Why decompression failed.
#[derive(Debug, Error)]
pub enum DecompressError {
    #[error("not valid zlib data: {0}")]
    Corrupt(std::io::Error),
    #[error("decompressed data exceeds {0} bytes")]
    TooLarge(usize),
}

/// Why compression failed (only an internal encoder error; writing to memory cannot fail).
#[derive(Debug, Error)]
#[error("zlib compression failed: {0}")]
pub struct CompressError(std::io::Error);

thread_local! {
    // A deflate state is a few hundred KB; allocating and zeroing one per pass costs more than
    // compressing the pass itself, so each thread keeps one per level and resets it.
    static COMPRESSORS: RefCell<Vec<(u32, Compress)>> = const { RefCell::new(Vec::new()) };
}

/// zlib-compresses `data` at `level` (0–9); level 0 writes stored blocks directly.
pub fn compress(data: &[u8], level: u32) -> Result<Vec<u8>, CompressError> {
    let level = level.min(9);
    if level == 0 {
        return Ok(stored(data));
    }
    COMPRESSORS.with(|cell| {
        let mut cache = cell.borrow_mut();
        let index = match cache.iter().position(|(l, _)| *l == level) {
            Some(i) => i,
            None => {
                cache.push((level, Compress::new(Compression::new(level), true)));
                cache.len() - 1
            }
        };
        let compressor = &mut cache[index].1;
        compressor.reset();
        let mut out = Vec::with_capacity(data.len() + data.len() / 1000 + 64);
        loop {
            let before = compressor.total_out();
            let consumed = usize::try_from(compressor.total_in()).unwrap_or(usize::MAX);
            let status = compressor
                .compress_vec(
                    data.get(consumed..).unwrap_or_default(),
                    &mut out,
                    FlushCompress::Finish,
                )
                .map_err(|e| CompressError(std::io::Error::other(e)))?;
            match status {
                Status::StreamEnd => return Ok(out),
                _ if compressor.total_out() == before && out.len() < out.capacity() => {
                    return Err(CompressError(std::io::Error::other(
                        "encoder made no progress",
                    )));
                }
                // The output buffer was full: grow it and go on.
                _ => out.reserve(out.capacity().max(64)),
            }
        }
    })
}

/// A zlib stream of stored (uncompressed) deflate blocks (RFC 1950, RFC 1951 §3.2.4): no
/// deflate state to set up, which for a 200-byte pass is most of the cost.
fn stored(data: &[u8]) -> Vec<u8> {
    const MAX_BLOCK: usize = 0xffff;
    let blocks = data.len().div_ceil(MAX_BLOCK).max(1);
    let mut out = Vec::with_capacity(data.len() + 5 * blocks + 6);
    // CMF 0x78 (deflate, 32 KiB window), FLG 0x01: no dictionary, fastest, FCHECK valid.
    out.extend_from_slice(&[0x78, 0x01]);
    let mut chunks = data.chunks(MAX_BLOCK).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[0x01, 0x00, 0x00, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        let last = u8::from(chunks.peek().is_none());
        let len = u16::try_from(chunk.len()).unwrap_or(u16::MAX);
        out.push(last);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&adler32(data).to_be_bytes());
    out
}

/// Reads a zlib stream made only of stored blocks (as our passes are) without setting up an
/// inflate state. Returns None for any other stream, which then goes to the full decoder.
fn unstore(data: &[u8], cap: usize) -> Result<Option<Vec<u8>>, DecompressError> {
    let corrupt = |why: &str| DecompressError::Corrupt(std::io::Error::other(why.to_owned()));
    let [cmf, flg, body @ ..] = data else {
        return Ok(None);
    };
    let mut rest: &[u8] = body;
    // Deflate, no preset dictionary, valid header check; first block stored (BTYPE 00).
    let header_ok =
        cmf & 0x0f == 8 && flg & 0x20 == 0 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0;
    if !header_ok || rest.first().is_none_or(|b| b & 0b110 != 0) {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(rest.len().min(cap));
    loop {
        let [head, l0, l1, n0, n1, tail @ ..] = rest else {
            return Ok(None);
        };
        if head & 0b110 != 0 {
            // A compressed block after stored ones: leave it to the full decoder.
            return Ok(None);
        }
        let len = usize::from(u16::from_le_bytes([*l0, *l1]));
        if u16::from_le_bytes([*l0, *l1]) != !u16::from_le_bytes([*n0, *n1]) {
            return Err(corrupt("stored block length check failed"));
        }
        if out.len() + len > cap {
            return Err(DecompressError::TooLarge(cap));
        }
        let block = tail
            .get(..len)
            .ok_or_else(|| corrupt("truncated stored block"))?;
        out.extend_from_slice(block);
        rest = &tail[len..];
        if head & 1 == 1 {
            break;
        }
    }
    let checksum: [u8; 4] = rest
        .try_into()
        .map_err(|_| corrupt("trailing or missing bytes after the last block"))?;
    if u32::from_be_bytes(checksum) == adler32(&out) {
        Ok(Some(out))
    } else {
        Err(corrupt("Adler-32 checksum mismatch"))
    }
}

fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65521;
    let (mut a, mut b) = (1u32, 0u32);
    // 5552 is the most bytes that can be summed before b may overflow u32 (zlib's NMAX).
    for chunk in data.chunks(5552) {
        for &byte in chunk {
            a += u32::from(byte);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

/// Decompresses zlib data, failing once the output would pass `cap` bytes.
pub fn decompress(data: &[u8], cap: usize) -> Result<Vec<u8>, DecompressError> {
    if let Some(out) = unstore(data, cap)? {
        return Ok(out);
    }
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::with_capacity(data.len().saturating_mul(2).min(cap));
    ZlibDecoder::new(data)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(DecompressError::Corrupt)?;
    if out.len() > cap {
        return Err(DecompressError::TooLarge(cap));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bomb() {
        let data = b"hello hello hello hello".repeat(10);
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
        for empty_level in [0, 6] {
            let z = compress(b"", empty_level).unwrap();
            assert!(decompress(&z, 10).unwrap().is_empty());
        }
        for level in [0, 1, 6, 9] {
            let z = compress(&data, level).unwrap();
            assert_eq!(decompress(&z, MAX_DECOMPRESSED).unwrap(), data);
        }
        // Incompressible input larger than the first output buffer.
        let noise: Vec<u8> = (0u32..200_000)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for level in [0, 1, 9] {
            let z = compress(&noise, level).unwrap();
            assert_eq!(decompress(&z, 1 << 20).unwrap(), noise);
        }
        // Stored streams: damaged checksum, length or trailer are errors, not guesses.
        let z = compress(&data, 0).unwrap();
        let mut bad = z.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(decompress(&bad, MAX_DECOMPRESSED).is_err());
        let mut bad = z.clone();
        bad[3] ^= 1;
        assert!(decompress(&bad, MAX_DECOMPRESSED).is_err());
        assert!(decompress(&[z.clone(), vec![0]].concat(), MAX_DECOMPRESSED).is_err());
        assert!(matches!(
            decompress(&z, 10),
            Err(DecompressError::TooLarge(10))
        ));
        let bomb = compress(&vec![0u8; 10 * 1024 * 1024], 9).unwrap();
        assert!(bomb.len() < 20_000);
        assert!(matches!(
            decompress(&bomb, MAX_DECOMPRESSED),
            Err(DecompressError::TooLarge(_))
        ));
        assert!(matches!(
            decompress(b"not zlib", MAX_DECOMPRESSED),
            Err(DecompressError::Corrupt(_))
        ));
        let z = compress(&data, 6).unwrap();
        assert!(decompress(&z[..z.len() - 3], MAX_DECOMPRESSED).is_err());
    }
}
