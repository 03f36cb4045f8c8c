//! Reading the web page's QR code back: from a screenshot (PNG), as a
//! phone's camera would, or from the SVG in the page, drawn into pixels.

/// The text of the one QR code in a PNG image.
pub fn text_in_png(png: &[u8]) -> String {
    let img = image::load_from_memory_with_format(png, image::ImageFormat::Png)
        .expect("a PNG")
        .to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(img);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the picture");
    let (_, text) = grids[0].decode().expect("a readable QR code");
    text
}

/// The text of the QR code drawn by the SVG in `html` (the qrcode crate's
/// drawing: one `<path>` of `M{x} {y}h{w}v{h}H{x}V{y}` squares).
pub fn text_in_svg(html: &str) -> String {
    let at = html.find("<svg").expect("an SVG in the page");
    let svg = &html[at..at + html[at..].find("</svg>").unwrap()];
    let number = |attr: &str| -> usize {
        let i = svg.find(&format!(" {attr}=\"")).unwrap() + attr.len() + 3;
        svg[i..i + svg[i..].find('"').unwrap()].parse().unwrap()
    };
    let (w, h) = (number("width"), number("height"));
    let mut dark = vec![false; w * h];
    let d = svg.rfind(" d=\"").unwrap() + 4;
    let path = &svg[d..d + svg[d..].find('"').unwrap()];
    for square in path.split('M').filter(|s| !s.is_empty()) {
        let nums: Vec<usize> = square
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect();
        let (x, y, sw, sh) = (nums[0], nums[1], nums[2], nums[3]);
        for row in y..y + sh {
            for col in x..x + sw {
                dark[row * w + col] = true;
            }
        }
    }
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(
            w,
            h,
            |x, y| {
                if dark[y * w + x] {
                    0
                } else {
                    255
                }
            },
        );
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the SVG");
    grids[0].decode().expect("a readable QR code").1
}
