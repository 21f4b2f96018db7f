//! One image in, its stored forms out: told by its content (JPEG, PNG,
//! WebP, GIF's first frame), its dimensions checked from the header before
//! any pixel is decoded, orientation applied, re-encoded without any of the
//! input's metadata, as a full size and a preview, with a blurhash.
//! Synchronous and CPU-bound: it runs on the pool's threads, never on the
//! async runtime.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder as _, ImageFormat, ImageReader, Limits};

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
    let format = image::guess_format(input).map_err(|_| Rejected::Unsupported)?;
    if !matches!(
        format,
        ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP | ImageFormat::Gif
    ) {
        return Err(Rejected::Unsupported);
    }
    let reader = || {
        let mut r = ImageReader::with_format(Cursor::new(input), format);
        r.limits(limits());
        r
    };
    let (width, height) = reader()
        .into_dimensions()
        .map_err(|_| Rejected::Unsupported)?;
    if width > MAX_SIDE || height > MAX_SIDE || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(Rejected::TooLarge);
    }
    let mut decoder = reader().into_decoder().map_err(|_| Rejected::Unsupported)?;
    let orientation = decoder.orientation().map_err(|_| Rejected::Unsupported)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| match e {
        image::ImageError::Limits(_) => Rejected::TooLarge,
        _ => Rejected::Unsupported,
    })?;
    image.apply_orientation(orientation);
    let format = if image.color().has_alpha() {
        Format::Png
    } else {
        Format::Jpeg
    };
    let full = shrink(image, FULL_SIDE);
    let preview = shrink(full.clone(), PREVIEW_SIDE);
    let blurhash = blurhash_of(&preview)?;
    Ok(Processed {
        format,
        full: encode(&full, format)?,
        preview: encode(&preview, format)?,
        blurhash,
    })
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
