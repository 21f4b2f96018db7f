//! The image pipeline: the time and CPU `media::process::process` takes on
//! a 12-megapixel JPEG of about 3 MB (4000 × 3000 at quality 92, made here
//! in code, noisy as a photo), median of RUNS runs, and the phases beside
//! it (decode, resize with each filter considered, encode), so that the
//! choice of resize is a measured one.
//!
//!   cargo bench --bench media                  # RUNS=9 runs, and the phases
//!   cargo bench --bench media -- write FILE    # writes the JPEG (benches/media.sh)
//!   cargo test --bench media                   # quick: one run, its output checked
//!
//! The server under concurrent uploads (peak RSS, `me` beside them) is
//! benches/media.sh.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use cpu_time::ThreadTime;
use image::imageops::FilterType;
use image::{DynamicImage, RgbImage};
use sns_api::media::process::{self, FULL_SIDE, Format, PREVIEW_SIDE};

const WIDTH: u32 = 4000;
const HEIGHT: u32 = 3000;

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; `cargo test --bench media` does not: quick.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let full = args.iter().any(|a| a == "--bench");
    let mut words = args.iter().filter(|a| !a.starts_with('-'));
    let input = photo();
    match words.next().map(String::as_str) {
        Some("write") => {
            let path = words.next().context("write FILE")?;
            std::fs::write(path, &input)?;
            println!("{path}: {WIDTH}x{HEIGHT} JPEG, {} bytes", input.len());
            return Ok(());
        }
        Some(other) => anyhow::bail!("unknown mode {other:?}: write FILE"),
        None => {}
    }
    println!("input: {WIDTH}x{HEIGHT} JPEG, {} bytes", input.len());
    anyhow::ensure!(
        (2_000_000..=5_000_000).contains(&input.len()),
        "the input should weigh about 3 MB"
    );

    let runs = if full {
        std::env::var("RUNS").map_or(Ok(9), |r| r.parse())?
    } else {
        1
    };
    let (mut walls, mut cpus) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let (wall, cpu) = (Instant::now(), ThreadTime::now());
        let out = process::process(&input).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        walls.push(wall.elapsed());
        cpus.push(cpu.elapsed());
        anyhow::ensure!(out.format == Format::Jpeg);
        anyhow::ensure!((out.full.width, out.full.height) == (FULL_SIDE, 1536));
        anyhow::ensure!((out.preview.width, out.preview.height) == (PREVIEW_SIDE, 300));
        let full_img = image::load_from_memory(&out.full.bytes)?;
        let preview_img = image::load_from_memory(&out.preview.bytes)?;
        anyhow::ensure!((full_img.width(), full_img.height()) == (FULL_SIDE, 1536));
        anyhow::ensure!((preview_img.width(), preview_img.height()) == (PREVIEW_SIDE, 300));
        anyhow::ensure!(!out.blurhash.is_empty());
        if walls.len() == 1 {
            println!(
                "output: full {}x{} {} bytes, preview {}x{} {} bytes, blurhash {}",
                out.full.width,
                out.full.height,
                out.full.bytes.len(),
                out.preview.width,
                out.preview.height,
                out.preview.bytes.len(),
                out.blurhash
            );
        }
    }
    println!(
        "process, {runs} run(s): median {} wall, {} CPU (min {}, max {} wall)",
        ms(median(&mut walls)),
        ms(median(&mut cpus)),
        ms(*walls.iter().min().unwrap()),
        ms(*walls.iter().max().unwrap()),
    );
    if full {
        phases(&input, runs)?;
    }
    Ok(())
}

/// The pipeline's steps one by one, each the median of `runs`.
fn phases(input: &[u8], runs: usize) -> anyhow::Result<()> {
    let time = |name: &str, f: &mut dyn FnMut()| {
        let mut cpus = (0..runs)
            .map(|_| {
                let cpu = ThreadTime::now();
                f();
                cpu.elapsed()
            })
            .collect::<Vec<_>>();
        println!("  {name:<44} {} CPU", ms(median(&mut cpus)));
    };
    let decoded = image::load_from_memory(input)?;
    time("decode 12 MP", &mut || {
        image::load_from_memory(input).unwrap();
    });
    for (name, filter) in [
        ("resize to 2048, Triangle", FilterType::Triangle),
        ("resize to 2048, CatmullRom", FilterType::CatmullRom),
        ("resize to 2048, Lanczos3", FilterType::Lanczos3),
    ] {
        time(name, &mut || {
            let _ = decoded.resize(FULL_SIDE, FULL_SIDE, filter);
        });
    }
    time("thumbnail (box) to 2048", &mut || {
        let _ = decoded.thumbnail(FULL_SIDE, FULL_SIDE);
    });
    let full = decoded.resize(FULL_SIDE, FULL_SIDE, FilterType::Triangle);
    time("encode 2048x1536 JPEG q85", &mut || {
        let mut out = Vec::new();
        full.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
            &mut out, 85,
        ))
        .unwrap();
    });
    time("resize 2048 -> 400, Triangle", &mut || {
        let _ = full.resize(PREVIEW_SIDE, PREVIEW_SIDE, FilterType::Triangle);
    });
    Ok(())
}

/// A photo-like 4000 × 3000 JPEG: smooth gradients with a grain of noise,
/// enough detail for quality 92 to weigh about 3 MB.
fn photo() -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut noise = move || {
        // xorshift64: deterministic, no dependency.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 56) as i32 % 14 - 7
    };
    let image = RgbImage::from_fn(WIDTH, HEIGHT, |x, y| {
        let base = [
            (x * 255 / WIDTH) as i32,
            (y * 255 / HEIGHT) as i32,
            ((x + y) * 255 / (WIDTH + HEIGHT)) as i32,
        ];
        image::Rgb(base.map(|c| (c + noise()).clamp(0, 255) as u8))
    });
    let mut out = Vec::new();
    DynamicImage::ImageRgb8(image)
        .write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
            &mut out, 92,
        ))
        .expect("encoding to memory");
    out
}

fn median(values: &mut [Duration]) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}
