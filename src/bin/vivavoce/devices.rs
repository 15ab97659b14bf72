//! `vivavoce devices`: the audio inputs and outputs, with their rates and channels.

use clap::Args;
use vivavoce::audio::{DeviceFormat, DeviceInfo, devices};

use crate::exit::{Ended, Failure, Outcome};

/// List the audio outputs and inputs, with their rates and channels.
///
/// `*` marks the defaults.
///
/// The NAME column is what --input-device and --output-device of talk and ptt take (a
/// part of a name or description also matches).
#[derive(Debug, Args)]
#[command(
    after_long_help = "Exit status: 0 listed (even when there are none); 2 the \
system's devices cannot be listed."
)]
pub struct DevicesArgs {}

pub fn run(_args: &DevicesArgs) -> Outcome {
    let list = devices().map_err(|e| Failure::from_error("listing the audio devices", &e))?;
    let outputs: Vec<&DeviceInfo> = list.iter().filter(|d| d.output).collect();
    let inputs: Vec<&DeviceInfo> = list.iter().filter(|d| d.input).collect();
    section("outputs", &outputs, |d| (d.default_output, d.output_format));
    section("inputs", &inputs, |d| (d.default_input, d.input_format));
    println!("(* default)");
    Ok(Ended::Done)
}

fn section(
    title: &str,
    list: &[&DeviceInfo],
    pick: impl Fn(&DeviceInfo) -> (bool, Option<DeviceFormat>),
) {
    println!("{title}:");
    if list.is_empty() {
        println!("  (none)");
        return;
    }
    let width = list.iter().map(|d| d.name.len()).max().unwrap_or(0);
    for d in list {
        let (default, format) = pick(d);
        let mark = if default { '*' } else { ' ' };
        let format = format.map_or_else(|| "(format unknown)".to_owned(), describe);
        let description = if d.description == d.name {
            String::new()
        } else {
            format!("  {}", d.description)
        };
        println!("{mark} {:<width$}  {format}{description}", d.name);
    }
}

/// `48000 Hz, 2 ch (8000–192000 Hz, up to 8 ch)`.
fn describe(f: DeviceFormat) -> String {
    let mut s = format!("{} Hz, {} ch", f.sample_rate, f.channels);
    // Plugins that resample (ALSA's `pipewire`, `null`) claim from 1 Hz up: say "any".
    if f.min_rate <= 1 {
        s.push_str(&format!(" (any rate, up to {} ch)", f.max_channels));
        return s;
    }
    let range = f.min_rate != f.max_rate;
    let more = f.max_channels > f.channels;
    if range || more {
        s.push_str(" (");
        if range {
            s.push_str(&format!("{}–{} Hz", f.min_rate, f.max_rate));
        }
        if more {
            s.push_str(&format!(
                "{}up to {} ch",
                if range { ", " } else { "" },
                f.max_channels
            ));
        }
        s.push(')');
    }
    s
}
