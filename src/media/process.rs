//! One image in, its stored forms out: told by its content (JPEG, PNG,
//! WebP, GIF's first frame), its dimensions checked from the header before
//! any pixel is decoded, orientation applied, re-encoded without any of the
//! input's metadata, as a full size and a preview, with a blurhash.
//! Synchronous and CPU-bound: it runs on the pool's threads, never on the
//! async runtime.

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

/// The longest side accepted.
pub const MAX_SIDE: u32 = 8192;
/// The most pixels accepted.
pub const MAX_PIXELS: u64 = 40_000_000;
/// The full size's longest side at most.
pub const FULL_SIDE: u32 = 2048;
/// The preview's longest side at most.
pub const PREVIEW_SIDE: u32 = 400;
/// JPEG quality of both stored forms.
const JPEG_QUALITY: u8 = 85;

/// Why an image is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// Not a JPEG, PNG, WebP or GIF by its content, or not decodable.
    Unsupported,
    /// More than `MAX_SIDE` a side or `MAX_PIXELS` in all.
    TooLarge,
}

/// The stored format: JPEG, or PNG where the image has transparency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
        }
    }
}

/// One encoded form.
pub struct Encoded {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// What is stored of one upload.
pub struct Processed {
    pub format: Format,
    pub full: Encoded,
    pub preview: Encoded,
    pub blurhash: String,
}

impl std::fmt::Debug for Processed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processed")
            .field("format", &self.format)
            .field(
                "full",
                &(self.full.width, self.full.height, self.full.bytes.len()),
            )
            .field(
                "preview",
                &(
                    self.preview.width,
                    self.preview.height,
                    self.preview.bytes.len(),
                ),
            )
            .finish()
    }
}

/// Processes one upload's bytes.
pub fn process(input: &[u8]) -> Result<Processed, Rejected> {
    let mut decoder = header(input)?;
    // The second line behind the header check: the decoders' own
    // allocations (a GIF frame larger than its screen, PNG's buffers) are
    // counted against a budget of their own.
    let mut limits = limits();
    limits
        .reserve(decoder.total_bytes())
        .map_err(|_| Rejected::TooLarge)?;
    decoder.set_limits(limits).map_err(rejected)?;
    // A broken EXIF block does not make the pixels unusable: upright then.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let image = DynamicImage::from_decoder(decoder).map_err(rejected)?;
    // Shrunk before turned: the box is square, so the order does not change
    // the result, and turning 4 MP costs less than turning 12.
    let mut full = shrink(image, FULL_SIDE);
    full.apply_orientation(orientation);
    let (full, format) = if is_opaque(&full) {
        (DynamicImage::ImageRgb8(full.into_rgb8()), Format::Jpeg)
    } else {
        (DynamicImage::ImageRgba8(full.into_rgba8()), Format::Png)
    };
    let preview = shrink(full.clone(), PREVIEW_SIDE);
    let blurhash = blurhash_of(&preview)?;
    Ok(Processed {
        format,
        full: encode(&full, format)?,
        preview: encode(&preview, format)?,
        blurhash,
    })
}

/// The decoder of an accepted format, its dimensions checked: what the
/// headers say, before any pixel is decoded or any buffer the size of the
/// image is allocated.
fn header(input: &[u8]) -> Result<impl ImageDecoder + '_, Rejected> {
    // By content only: the magic numbers, never a name or a declared type.
    let format = image::guess_format(input).map_err(|_| Rejected::Unsupported)?;
    match format {
        ImageFormat::Png | ImageFormat::WebP | ImageFormat::Gif => {}
        // The JPEG decoder is lenient: a file cut short decodes with grey
        // where the rest was. An upload cut short is refused instead.
        ImageFormat::Jpeg if jpeg_is_complete(input) => {}
        _ => return Err(Rejected::Unsupported),
    }
    let decoder = ImageReader::with_format(Cursor::new(input), format)
        .into_decoder()
        .map_err(rejected)?;
    let (width, height) = decoder.dimensions();
    if width > MAX_SIDE || height > MAX_SIDE || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(Rejected::TooLarge);
    }
    Ok(decoder)
}

/// A decoder's error as the upload's: over a limit is too large, anything
/// else is not an image we take.
fn rejected(error: image::ImageError) -> Rejected {
    match error {
        image::ImageError::Limits(_) => Rejected::TooLarge,
        _ => Rejected::Unsupported,
    }
}

/// Whether a JPEG's segments lead to a scan and an end-of-image marker
/// follows it. The marker cannot occur inside entropy-coded data (a 0xFF
/// there is followed by 0x00 or a restart marker), so finding it after the
/// first scan's header means the file was not cut short; what follows it
/// (a payload appended to the file) is never decoded nor kept.
fn jpeg_is_complete(input: &[u8]) -> bool {
    let mut at = 2; // after SOI
    loop {
        let (Some(&0xFF), Some(&marker)) = (input.get(at), input.get(at + 1)) else {
            return false;
        };
        match marker {
            // Fill bytes before a marker.
            0xFF => at += 1,
            // Start of scan: the entropy-coded data follows its header.
            0xDA => break,
            // Markers without a length.
            0x01 | 0xD0..=0xD7 => at += 2,
            _ => {
                let Some(length) = input.get(at + 2..at + 4) else {
                    return false;
                };
                at += 2 + usize::from(u16::from_be_bytes([length[0], length[1]]));
            }
        }
    }
    input[at..].windows(2).any(|w| w == [0xFF, 0xD9])
}

/// The decoder's limits: the sides, and the memory a 40-megapixel RGBA
/// image with 16-bit channels needs.
fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_PIXELS * 8 + (64 << 20));
    limits
}

/// Whether every pixel is opaque: an image that only has an alpha channel
/// (every GIF, many PNGs) is stored as a JPEG, far smaller.
fn is_opaque(image: &DynamicImage) -> bool {
    match image {
        DynamicImage::ImageLumaA8(b) => b.pixels().all(|p| p.0[1] == u8::MAX),
        DynamicImage::ImageRgba8(b) => b.pixels().all(|p| p.0[3] == u8::MAX),
        DynamicImage::ImageLumaA16(b) => b.pixels().all(|p| p.0[1] == u16::MAX),
        DynamicImage::ImageRgba16(b) => b.pixels().all(|p| p.0[3] == u16::MAX),
        DynamicImage::ImageRgba32F(b) => b.pixels().all(|p| p.0[3] >= 1.0),
        other => !other.color().has_alpha(),
    }
}

/// The image with its longest side at most `side`.
fn shrink(image: DynamicImage, side: u32) -> DynamicImage {
    if image.width() <= side && image.height() <= side {
        image
    } else {
        image.resize(side, side, image::imageops::FilterType::Triangle)
    }
}

fn encode(image: &DynamicImage, format: Format) -> Result<Encoded, Rejected> {
    let mut bytes = Vec::new();
    let written =
        match format {
            Format::Jpeg => image.to_rgb8().write_with_encoder(
                image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY),
            ),
            Format::Png => image
                .to_rgba8()
                .write_with_encoder(image::codecs::png::PngEncoder::new(&mut bytes)),
        };
    written.map_err(|_| Rejected::Unsupported)?;
    Ok(Encoded {
        bytes,
        width: image.width(),
        height: image.height(),
    })
}

/// 4 × 3 components, from a 32-pixel copy.
fn blurhash_of(image: &DynamicImage) -> Result<String, Rejected> {
    let small = image.thumbnail(32, 32).to_rgba8();
    blurhash::encode(4, 3, small.width(), small.height(), small.as_raw())
        .map_err(|_| Rejected::Unsupported)
}

#[cfg(test)]
mod tests {
    //! Every input is made here, in code: images encoded by the image
    //! crate, and the metadata, headers and payloads around them by hand.

    use image::{Rgb, RgbImage, Rgba, RgbaImage};

    use super::*;

    /// A noisy RGB image: the top-left quarter red, the rest blue, so a
    /// rotation shows where that corner went.
    fn picture(width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            let noise = ((x * 7 + y * 13) % 16) as u8;
            if x < width / 2 && y < height / 2 {
                Rgb([230 + noise, noise, noise])
            } else {
                Rgb([noise, noise, 230 + noise])
            }
        })
    }

    fn jpeg_of(image: &RgbImage) -> Vec<u8> {
        let mut bytes = Vec::new();
        image
            .write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
                &mut bytes, 90,
            ))
            .unwrap();
        bytes
    }

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        jpeg_of(&picture(width, height))
    }

    fn png_of(image: &DynamicImage) -> Vec<u8> {
        let mut bytes = Vec::new();
        image
            .write_with_encoder(image::codecs::png::PngEncoder::new(&mut bytes))
            .unwrap();
        bytes
    }

    /// `bytes` with `segments` inserted right after the JPEG's SOI.
    fn with_segments(jpeg: &[u8], segments: &[Vec<u8>]) -> Vec<u8> {
        let mut out = jpeg[..2].to_vec();
        for segment in segments {
            out.extend_from_slice(segment);
        }
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    /// A JPEG marker segment: FF, the marker, its length, the payload.
    fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0xFF, marker];
        out.extend_from_slice(&u16::try_from(payload.len() + 2).unwrap().to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// The GPS latitude written into the EXIF: 48° 51' 29.31", bytes no
    /// encoder would write by chance.
    const LATITUDE: [u8; 24] = [
        0, 0, 0, 48, 0, 0, 0, 1, 0, 0, 0, 51, 0, 0, 0, 1, 0, 0, 0x0B, 0x73, 0, 0, 0, 100,
    ];

    /// A big-endian TIFF block: IFD0 with Orientation and a GPSInfo
    /// pointer, the GPS IFD with a latitude reference and the latitude.
    fn tiff(orientation: u16) -> Vec<u8> {
        let mut t = b"MM\0\x2a\0\0\0\x08".to_vec();
        // IFD0 at 8: two entries, then the next IFD's offset (none).
        t.extend_from_slice(&2u16.to_be_bytes());
        t.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1]); // Orientation, SHORT, 1
        t.extend_from_slice(&orientation.to_be_bytes());
        t.extend_from_slice(&[0, 0]);
        t.extend_from_slice(&[0x88, 0x25, 0, 4, 0, 0, 0, 1]); // GPSInfo, LONG, 1
        t.extend_from_slice(&38u32.to_be_bytes()); // 8 + 2 + 2 * 12 + 4
        t.extend_from_slice(&0u32.to_be_bytes());
        // The GPS IFD at 38: GPSLatitudeRef "N", GPSLatitude at 68.
        t.extend_from_slice(&2u16.to_be_bytes());
        t.extend_from_slice(&[0, 1, 0, 2, 0, 0, 0, 2, b'N', 0, 0, 0]);
        t.extend_from_slice(&[0, 2, 0, 5, 0, 0, 0, 3]);
        t.extend_from_slice(&68u32.to_be_bytes()); // 38 + 2 + 2 * 12 + 4
        t.extend_from_slice(&0u32.to_be_bytes());
        assert_eq!(t.len(), 68);
        t.extend_from_slice(&LATITUDE);
        t
    }

    /// An APP1 "Exif\0\0" segment.
    fn exif(orientation: u16) -> Vec<u8> {
        let mut payload = b"Exif\0\0".to_vec();
        payload.extend_from_slice(&tiff(orientation));
        segment(0xE1, &payload)
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    /// Both stored forms' bytes.
    fn outputs(processed: &Processed) -> [&[u8]; 2] {
        [&processed.full.bytes, &processed.preview.bytes]
    }

    fn decode(bytes: &[u8]) -> RgbImage {
        image::load_from_memory(bytes).unwrap().to_rgb8()
    }

    fn is_red(p: Rgb<u8>) -> bool {
        p.0[0] > 180 && p.0[2] < 80
    }

    fn is_blue(p: Rgb<u8>) -> bool {
        p.0[2] > 180 && p.0[0] < 80
    }

    /// The CRC of a PNG chunk's type and data.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut out = u32::try_from(data.len()).unwrap().to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc32(&out[4..]).to_be_bytes());
        out
    }

    /// A PNG's signature and IHDR, nothing else yet.
    fn png_header(width: u32, height: u32) -> Vec<u8> {
        let mut ihdr = width.to_be_bytes().to_vec();
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        out.extend_from_slice(&chunk(b"IHDR", &ihdr));
        out
    }

    /// `png` with `chunks` inserted right after its IHDR.
    fn with_chunks(png: &[u8], chunks: &[Vec<u8>]) -> Vec<u8> {
        let mut out = png[..33].to_vec();
        for c in chunks {
            out.extend_from_slice(c);
        }
        out.extend_from_slice(&png[33..]);
        out
    }

    /// A GIF's header: its logical screen, then one frame's descriptor.
    fn gif_header(screen: (u16, u16), frame: (u16, u16)) -> Vec<u8> {
        let mut out = b"GIF89a".to_vec();
        out.extend_from_slice(&screen.0.to_le_bytes());
        out.extend_from_slice(&screen.1.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0]); // no global palette
        out.push(b',');
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&frame.0.to_le_bytes());
        out.extend_from_slice(&frame.1.to_le_bytes());
        out.extend_from_slice(&[0, 2, 0, b';']); // no palette, LZW 2, no data
        out
    }

    fn gif_of(frames: Vec<RgbaImage>) -> Vec<u8> {
        let mut bytes = Vec::new();
        {
            let mut encoder = image::codecs::gif::GifEncoder::new(&mut bytes);
            encoder
                .encode_frames(frames.into_iter().map(image::Frame::new))
                .unwrap();
        }
        bytes
    }

    #[test]
    fn a_jpeg_is_stored_as_a_jpeg_full_size_and_preview_within_their_sides() {
        let out = process(&jpeg(2200, 550)).unwrap();
        assert_eq!(out.format, Format::Jpeg);
        assert_eq!((out.full.width, out.full.height), (2048, 512));
        assert_eq!((out.preview.width, out.preview.height), (400, 100));
        assert_eq!(
            image::guess_format(&out.full.bytes).unwrap(),
            ImageFormat::Jpeg
        );
        assert_eq!(decode(&out.full.bytes).dimensions(), (2048, 512));
        assert_eq!(decode(&out.preview.bytes).dimensions(), (400, 100));
        assert!(!out.blurhash.is_empty());
    }

    #[test]
    fn a_small_image_keeps_its_size() {
        let out = process(&jpeg(300, 200)).unwrap();
        assert_eq!((out.full.width, out.full.height), (300, 200));
        assert_eq!((out.preview.width, out.preview.height), (300, 200));
    }

    #[test]
    fn anything_but_the_four_formats_is_unsupported_whatever_it_claims() {
        let svg = br#"<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>"#;
        let html = b"<!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>";
        // What a text file renamed photo.png holds: a name never counts.
        let text = b"just some text, saved as photo.png\n";
        let bmp = {
            let mut bytes = Vec::new();
            DynamicImage::ImageRgb8(picture(4, 4))
                .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Bmp)
                .ok();
            // Without the bmp feature nothing is written: the magic alone.
            if bytes.is_empty() {
                bytes = b"BM\x3a\0\0\0\0\0\0\0\x36\0\0\0".to_vec();
            }
            bytes
        };
        let tiff = b"II*\0\x08\0\0\0".to_vec();
        for input in [
            &svg[..],
            &html[..],
            &text[..],
            &bmp,
            &tiff,
            b"",
            b"\xff\xd8",
        ] {
            assert_eq!(
                process(input).unwrap_err(),
                Rejected::Unsupported,
                "{:?}",
                String::from_utf8_lossy(&input[..input.len().min(20)])
            );
        }
    }

    #[test]
    fn a_png_header_declaring_50000_by_50000_is_too_large_before_any_decoding() {
        // No pixel data, a few bytes of garbage as the IDAT: decoding would
        // fail as unsupported, so `TooLarge` can only come from the header.
        let mut input = png_header(50_000, 50_000);
        input.extend_from_slice(&chunk(b"IDAT", b"not zlib"));
        input.extend_from_slice(&chunk(b"IEND", b""));
        assert!(input.len() < 100);
        assert_eq!(process(&input).unwrap_err(), Rejected::TooLarge);
    }

    #[test]
    fn a_gif_header_declaring_50000_by_50000_is_too_large_before_any_decoding() {
        let input = gif_header((50_000, 50_000), (50_000, 50_000));
        assert!(input.len() < 100);
        assert_eq!(process(&input).unwrap_err(), Rejected::TooLarge);
    }

    #[test]
    fn a_gif_frame_far_larger_than_its_screen_is_refused_without_its_buffer() {
        // The screen passes the header check; the frame's buffer (60,000²
        // RGBA, 14 GB) is refused by the decoder's limits.
        let input = gif_header((10, 10), (60_000, 60_000));
        assert!(process(&input).is_err());
    }

    /// `jpeg` with its SOF's dimensions replaced.
    fn declaring(jpeg: &[u8], width: u16, height: u16) -> Vec<u8> {
        let mut out = jpeg.to_vec();
        let sof = out.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        out[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
        out[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
        out
    }

    #[test]
    fn a_jpeg_over_a_side_or_the_pixel_count_is_too_large_from_its_header() {
        let small = jpeg(16, 16);
        for (w, h) in [(50_000, 50_000), (8193, 100), (100, 8193), (7000, 7000)] {
            assert_eq!(
                process(&declaring(&small, w, h)).unwrap_err(),
                Rejected::TooLarge,
                "{w}x{h}"
            );
        }
    }

    #[test]
    fn exif_orientation_6_turns_the_image_a_quarter_clockwise() {
        let out = process(&with_segments(&jpeg(60, 40), &[exif(6)])).unwrap();
        assert_eq!((out.full.width, out.full.height), (40, 60));
        let img = decode(&out.full.bytes);
        // The red top-left corner is now the top-right one.
        assert!(is_red(*img.get_pixel(35, 5)), "{:?}", img.get_pixel(35, 5));
        assert!(is_blue(*img.get_pixel(5, 5)));
        assert!(is_blue(*img.get_pixel(35, 55)));
    }

    #[test]
    fn exif_orientation_8_turns_the_image_a_quarter_anticlockwise() {
        let out = process(&with_segments(&jpeg(60, 40), &[exif(8)])).unwrap();
        assert_eq!((out.full.width, out.full.height), (40, 60));
        let img = decode(&out.full.bytes);
        // The red top-left corner is now the bottom-left one.
        assert!(is_red(*img.get_pixel(5, 55)), "{:?}", img.get_pixel(5, 55));
        assert!(is_blue(*img.get_pixel(5, 5)));
        assert!(is_blue(*img.get_pixel(35, 55)));
    }

    #[test]
    fn a_jpeg_loses_its_exif_gps_xmp_icc_and_comments() {
        let xmp = b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">xmp-secret-creator</x:xmpmeta>";
        let mut icc = b"ICC_PROFILE\0\x01\x01".to_vec();
        icc.extend_from_slice(b"icc-secret-profile-bytes");
        let input = with_segments(
            &jpeg(64, 48),
            &[
                exif(1),
                segment(0xE1, xmp),
                segment(0xE2, &icc),
                segment(0xFE, b"comment-secret"),
            ],
        );
        assert!(contains(&input, &LATITUDE) && contains(&input, b"Exif"));
        let out = process(&input).unwrap();
        for bytes in outputs(&out) {
            for secret in [
                &LATITUDE[..],
                b"Exif",
                b"xmp-secret",
                b"ns.adobe.com",
                b"ICC_PROFILE",
                b"icc-secret",
                b"comment-secret",
            ] {
                assert!(
                    !contains(bytes, secret),
                    "{}",
                    String::from_utf8_lossy(secret)
                );
            }
        }
    }

    #[test]
    fn a_png_loses_its_text_chunks_and_exif_whose_orientation_it_applies() {
        let png = png_of(&DynamicImage::ImageRgb8(picture(60, 40)));
        let input = with_chunks(
            &png,
            &[
                chunk(b"tEXt", b"Comment\0text-secret"),
                chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0itxt-secret"),
                chunk(b"eXIf", &tiff(6)),
            ],
        );
        let out = process(&input).unwrap();
        assert_eq!((out.full.width, out.full.height), (40, 60));
        for bytes in outputs(&out) {
            for secret in [
                &LATITUDE[..],
                b"text-secret",
                b"itxt-secret",
                b"tEXt",
                b"iTXt",
                b"eXIf",
                b"MM\0\x2a",
            ] {
                assert!(
                    !contains(bytes, secret),
                    "{}",
                    String::from_utf8_lossy(secret)
                );
            }
        }
    }

    #[test]
    fn a_truncated_jpeg_is_unsupported() {
        let whole = jpeg(200, 150);
        for cut in [whole.len() / 2, whole.len() - 2, 20] {
            assert_eq!(
                process(&whole[..cut]).unwrap_err(),
                Rejected::Unsupported,
                "{cut}"
            );
        }
    }

    #[test]
    fn a_truncated_png_or_gif_is_unsupported() {
        let png = png_of(&DynamicImage::ImageRgb8(picture(200, 150)));
        assert_eq!(
            process(&png[..png.len() / 2]).unwrap_err(),
            Rejected::Unsupported
        );
        let gif = gif_of(vec![DynamicImage::ImageRgb8(picture(64, 48)).to_rgba8()]);
        assert!(process(&gif[..gif.len() / 2]).is_err());
    }

    const PAYLOAD: &[u8] = b"<html><script>alert(document.cookie)</script></html>";

    #[test]
    fn a_jpeg_with_html_appended_or_in_a_comment_is_reencoded_without_it() {
        let whole = jpeg(64, 48);
        let mut appended = whole.clone();
        appended.extend_from_slice(PAYLOAD);
        let commented = with_segments(&whole, &[segment(0xFE, PAYLOAD)]);
        for input in [appended, commented] {
            let out = process(&input).unwrap();
            for bytes in outputs(&out) {
                assert!(!contains(bytes, b"<script>"));
                assert!(!contains(bytes, b"<html>"));
            }
        }
    }

    #[test]
    fn a_gif_with_html_appended_or_in_a_comment_is_reencoded_without_it() {
        let whole = gif_of(vec![DynamicImage::ImageRgb8(picture(64, 48)).to_rgba8()]);
        let mut appended = whole.clone();
        appended.extend_from_slice(PAYLOAD);
        // A comment extension right after the header, the screen
        // descriptor and its palette, if any.
        let flags = whole[10];
        let palette = if flags & 0x80 == 0 {
            0
        } else {
            3 << ((flags & 7) + 1)
        };
        let mut commented = whole[..13 + palette].to_vec();
        commented.extend_from_slice(&[0x21, 0xFE, u8::try_from(PAYLOAD.len()).unwrap()]);
        commented.extend_from_slice(PAYLOAD);
        commented.push(0);
        commented.extend_from_slice(&whole[13 + palette..]);
        for input in [appended, commented] {
            let out = process(&input).unwrap();
            assert_eq!(out.format, Format::Jpeg);
            for bytes in outputs(&out) {
                assert!(!contains(bytes, b"<script>"));
            }
        }
    }

    #[test]
    fn an_animated_gif_is_stored_as_its_first_frame() {
        let red = RgbaImage::from_pixel(40, 30, Rgba([250, 0, 0, 255]));
        let blue = RgbaImage::from_pixel(40, 30, Rgba([0, 0, 250, 255]));
        let out = process(&gif_of(vec![red, blue])).unwrap();
        assert_eq!(out.format, Format::Jpeg);
        assert_eq!((out.full.width, out.full.height), (40, 30));
        assert!(is_red(*decode(&out.full.bytes).get_pixel(20, 15)));
    }

    #[test]
    fn transparency_is_stored_as_png_and_an_opaque_alpha_channel_as_jpeg() {
        let half = RgbaImage::from_fn(40, 30, |x, _| Rgba([9, 9, 9, if x < 20 { 0 } else { 255 }]));
        let out = process(&png_of(&DynamicImage::ImageRgba8(half))).unwrap();
        assert_eq!(out.format, Format::Png);
        assert_eq!(
            image::guess_format(&out.full.bytes).unwrap(),
            ImageFormat::Png
        );
        let img = image::load_from_memory(&out.full.bytes).unwrap().to_rgba8();
        assert_eq!(img.get_pixel(5, 5).0[3], 0);
        assert_eq!(img.get_pixel(35, 5).0[3], 255);

        let opaque = RgbaImage::from_pixel(40, 30, Rgba([9, 9, 9, 255]));
        let out = process(&png_of(&DynamicImage::ImageRgba8(opaque))).unwrap();
        assert_eq!(out.format, Format::Jpeg);
    }

    #[test]
    fn sixteen_bit_and_grey_pngs_a_grey_jpeg_and_a_webp_are_taken() {
        let rgb16 = DynamicImage::ImageRgb16(DynamicImage::ImageRgb8(picture(50, 40)).to_rgb16());
        let rgba16 =
            DynamicImage::ImageRgba16(DynamicImage::ImageRgb8(picture(50, 40)).to_rgba16());
        let grey = DynamicImage::ImageLuma8(DynamicImage::ImageRgb8(picture(50, 40)).to_luma8());
        let grey_alpha =
            DynamicImage::ImageLumaA8(DynamicImage::ImageRgb8(picture(50, 40)).to_luma_alpha8());
        let mut grey_jpeg = Vec::new();
        grey.write_with_encoder(image::codecs::jpeg::JpegEncoder::new(&mut grey_jpeg))
            .unwrap();
        let mut webp = Vec::new();
        DynamicImage::ImageRgba8(RgbaImage::from_pixel(50, 40, Rgba([1, 2, 3, 128])))
            .write_with_encoder(image::codecs::webp::WebPEncoder::new_lossless(&mut webp))
            .unwrap();
        let cases = [
            (png_of(&rgb16), Format::Jpeg),
            (png_of(&rgba16), Format::Jpeg),
            (png_of(&grey), Format::Jpeg),
            (png_of(&grey_alpha), Format::Jpeg),
            (grey_jpeg, Format::Jpeg),
            (webp, Format::Png),
        ];
        for (n, (input, format)) in cases.into_iter().enumerate() {
            let out = process(&input).unwrap_or_else(|e| panic!("case {n}: {e:?}"));
            assert_eq!(out.format, format, "case {n}");
            assert_eq!((out.full.width, out.full.height), (50, 40), "case {n}");
            image::load_from_memory(&out.full.bytes).unwrap();
        }
    }

    /// An 8×8 CMYK JPEG made by hand (Adobe APP14, four components, one
    /// Huffman code each for "DC difference 0" and "end of block"): flat
    /// grey, what no encoder in the dependencies writes.
    fn cmyk_jpeg() -> Vec<u8> {
        let mut out = vec![0xFF, 0xD8];
        out.extend(segment(0xEE, b"Adobe\0\x64\0\0\0\0\0"));
        let mut dqt = vec![0];
        dqt.extend([1u8; 64]);
        out.extend(segment(0xDB, &dqt));
        let mut sof = vec![8, 0, 8, 0, 8, 4];
        for id in 1..=4 {
            sof.extend([id, 0x11, 0]);
        }
        out.extend(segment(0xC0, &sof));
        for class in [0x00, 0x10] {
            let mut dht = vec![class, 1];
            dht.extend([0u8; 15]);
            dht.push(0);
            out.extend(segment(0xC4, &dht));
        }
        let mut sos = vec![4];
        for id in 1..=4 {
            sos.extend([id, 0x00]);
        }
        sos.extend([0, 63, 0]);
        out.extend(segment(0xDA, &sos));
        // Four blocks of two one-bit codes: one zero byte.
        out.extend([0x00, 0xFF, 0xD9]);
        out
    }

    #[test]
    fn a_cmyk_jpeg_is_taken_or_refused_but_never_panics() {
        let input = cmyk_jpeg();
        match process(&input) {
            Ok(out) => {
                assert_eq!(out.format, Format::Jpeg);
                assert_eq!((out.full.width, out.full.height), (8, 8));
            }
            Err(e) => assert_eq!(e, Rejected::Unsupported),
        }
    }

    #[test]
    fn damaged_bytes_anywhere_never_panic() {
        let mut webp = Vec::new();
        DynamicImage::ImageRgb8(picture(24, 16))
            .write_with_encoder(image::codecs::webp::WebPEncoder::new_lossless(&mut webp))
            .unwrap();
        let inputs = [
            with_segments(&jpeg(24, 16), &[exif(6)]),
            png_of(&DynamicImage::ImageRgb8(picture(24, 16))),
            gif_of(vec![DynamicImage::ImageRgb8(picture(24, 16)).to_rgba8()]),
            webp,
            cmyk_jpeg(),
        ];
        for input in inputs {
            for at in 0..input.len() {
                let mut damaged = input.clone();
                damaged[at] ^= 0xFF;
                let _ = process(&damaged);
                let _ = process(&input[..at]);
            }
        }
    }
}
