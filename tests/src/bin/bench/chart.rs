//! The README's chart: one login's cost in a long-lived process, every
//! case side by side, on a logarithmic axis (a wrong password costs a
//! tenth of a millisecond, a right one tens of milliseconds).

use crate::report::{Report, POSTGRES, SQLITE};
use plotters::prelude::*;

pub const SECTION: &str = "one long-lived process, per pam_start/pam_authenticate/pam_end";

pub fn svg(report: &Report) -> String {
    // Reversed: the y axis counts up, and the first figure reads best on top.
    let bars: Vec<(String, &'static str, f64)> = report
        .figures
        .iter()
        .rev()
        .filter(|f| f.section == SECTION)
        .map(|f| (format!("{} ({})", f.case, f.store), f.store, f.value))
        .collect();
    let mut out = String::new();
    if bars.is_empty() {
        return out;
    }
    let height = 90 + 22 * bars.len() as u32;
    {
        let root = SVGBackend::with_string(&mut out, (900, height)).into_drawing_area();
        root.fill(&WHITE).unwrap();
        let lo = 0.03f64;
        let hi = bars.iter().map(|b| b.2).fold(1.0, f64::max) * 2.0;
        let n = bars.len() as u32;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "One login through libpam in a long-lived process (median, ms, log scale)",
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(34)
            .y_label_area_size(330)
            .build_cartesian_2d((lo..hi).log_scale(), (0u32..n).into_segmented())
            .unwrap();
        let names: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(bars.len())
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => names.get(*i as usize).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .x_desc("milliseconds")
            .x_label_formatter(&|v| format!("{v}"))
            .label_style(("sans-serif", 13))
            .draw()
            .unwrap();
        chart
            .draw_series(bars.iter().enumerate().map(|(i, (_, store, v))| {
                let color = match *store {
                    SQLITE => RGBColor(52, 101, 164),
                    POSTGRES => RGBColor(237, 125, 49),
                    _ => RGBColor(128, 128, 128),
                };
                let i = i as u32;
                let mut bar = Rectangle::new(
                    [
                        (lo, SegmentValue::Exact(i)),
                        (*v, SegmentValue::Exact(i + 1)),
                    ],
                    color.filled(),
                );
                bar.set_margin(3, 3, 0, 0);
                bar
            }))
            .unwrap();
        chart
            .draw_series(bars.iter().enumerate().map(|(i, (_, _, v))| {
                Text::new(
                    format!("{v:.3}"),
                    (*v * 1.05, SegmentValue::CenterOf(i as u32)),
                    ("sans-serif", 12),
                )
            }))
            .unwrap();
        root.present().unwrap();
    }
    out
}
