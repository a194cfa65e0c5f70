//! QR images: PNG and SVG rendering (error correction Q, as the EU certificate uses) and, with
//! the `read-qr` feature (the command line and the tests; the node never reads images), PNG
//! decoding with bounded memory.

use std::io::Cursor;

use image::{ImageFormat, Luma};
#[cfg(feature = "read-qr")]
use image::{ImageReader, Limits};
use qrcode::{EcLevel, QrCode};
use thiserror::Error;

/// Largest image accepted for decoding, per side.
pub const MAX_SIDE: u32 = 4096;

/// Why an image could not be made or read.
#[derive(Debug, Error)]
pub enum QrError {
    #[error("text does not fit in a QR code: {0}")]
    TooLong(String),
    #[error("PNG encoding failed: {0}")]
    Encode(String),
    #[error("not a readable PNG: {0}")]
    Image(String),
    #[error("no QR code found in the image")]
    NotFound,
    #[error("QR code found but unreadable: {0}")]
    Unreadable(String),
}

fn code(text: &str) -> Result<QrCode, QrError> {
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::Q)
        .map_err(|e| QrError::TooLong(e.to_string()))
}

/// Renders a PNG with `module_px` pixels per module and a quiet zone.
pub fn render_png(text: &str, module_px: u32) -> Result<Vec<u8>, QrError> {
    let image = code(text)?
        .render::<Luma<u8>>()
        .module_dimensions(module_px.max(1), module_px.max(1))
        .build();
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, ImageFormat::Png)
        .map_err(|e| QrError::Encode(e.to_string()))?;
    Ok(out.into_inner())
}

/// The dark module colours of a tinted code: green, yellow, red, each dark enough on white
/// that a scanner's grey threshold still separates it (tested below).
pub const TINTS: [&str; 3] = ["#0b7a36", "#a86800", "#c01c1c"];

/// Renders an SVG document, black on white.
pub fn render_svg(text: &str) -> Result<String, QrError> {
    render_svg_tinted(text, "#000000")
}

/// Renders an SVG document with its dark modules in `dark` (a CSS colour) on white, as the
/// health codes of 2020 tinted the code in its colour. The tint must stay dark enough for a
/// scanner's threshold (see the tests).
pub fn render_svg_tinted(text: &str, dark: &str) -> Result<String, QrError> {
    Ok(code(text)?
        .render::<qrcode::render::svg::Color<'_>>()
        .dark_color(qrcode::render::svg::Color(dark))
        .min_dimensions(256, 256)
        .build())
}

/// Reads the text of the first QR code in a PNG.
#[cfg(feature = "read-qr")]
pub fn decode_png(png: &[u8]) -> Result<String, QrError> {
    let mut reader = ImageReader::with_format(Cursor::new(png), ImageFormat::Png);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(128 * 1024 * 1024);
    reader.limits(limits);
    let luma = reader
        .decode()
        .map_err(|e| QrError::Image(e.to_string()))?
        .to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(luma);
    let grids = prepared.detect_grids();
    let mut last = QrError::NotFound;
    for grid in grids {
        match grid.decode() {
            Ok((_, text)) => return Ok(text),
            Err(e) => last = QrError::Unreadable(e.to_string()),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(feature = "read-qr")]
    fn png_round_trip_and_svg() {
        let text = "HCP1:6BFOXN*TS0BI$ZD4N9:9S6RCVN5+O30K3/XIV0W23NTDE$VK G2EZ4";
        let png = render_png(text, 4).unwrap();
        assert_eq!(decode_png(&png).unwrap(), text);
        let svg = render_svg(text).unwrap();
        assert!(svg.starts_with("<?xml") && svg.contains("<svg"));
        assert!(matches!(decode_png(b"garbage"), Err(QrError::Image(_))));
        let tinted = render_svg_tinted(text, TINTS[1]).unwrap();
        assert!(tinted.contains(TINTS[1]), "{tinted}");
    }

    /// The tints the code page uses, drawn in colour and read as a camera reads (to grey) by
    /// rqrr, a decoder independent of the encoder.
    #[test]
    #[cfg(feature = "read-qr")]
    fn tinted_codes_still_scan() {
        let text = "HCP1:6BFOXN*TS0BI$ZD4N9:9S6RCVN5+O30K3/XIV0W23NTDE$VK G2EZ4";
        for tint in TINTS {
            let channel = |i: usize| u8::from_str_radix(&tint[1 + 2 * i..3 + 2 * i], 16).unwrap();
            let image = code(text)
                .unwrap()
                .render::<image::Rgb<u8>>()
                .dark_color(image::Rgb([channel(0), channel(1), channel(2)]))
                .module_dimensions(4, 4)
                .build();
            let mut png = Cursor::new(Vec::new());
            image.write_to(&mut png, ImageFormat::Png).unwrap();
            assert_eq!(decode_png(&png.into_inner()).unwrap(), text, "{tint}");
        }
    }
}
