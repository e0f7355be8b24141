//! The deterministic synthetic catalog: product names, prices, pages, fragments and images.
//!
//! Every representation is a pure function of its inputs (product id, or segment and catalog
//! size), never of the origin's name, so all origins of a pool serve identical bytes and
//! identical validators, as replicated web servers do.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

/// 2024-01-01T00:00:00Z; product `id` was last modified `id` hours later.
const CATALOG_EPOCH_SECS: u64 = 1_704_067_200;
/// Smallest image size in bytes.
pub(super) const IMAGE_MIN: usize = 10 * 1024;
/// Largest image size in bytes.
pub(super) const IMAGE_MAX: usize = 300 * 1024;
/// How many products a recommendations fragment lists.
const RECOMMENDATIONS: usize = 6;

const ADJECTIVES: [&str; 16] = [
    "Rustic",
    "Sleek",
    "Vintage",
    "Ergonomic",
    "Handmade",
    "Compact",
    "Deluxe",
    "Classic",
    "Modern",
    "Lightweight",
    "Durable",
    "Elegant",
    "Organic",
    "Smart",
    "Cozy",
    "Bold",
];
const MATERIALS: [&str; 12] = [
    "Oak", "Steel", "Linen", "Ceramic", "Leather", "Bamboo", "Copper", "Wool", "Glass", "Cotton",
    "Marble", "Walnut",
];
const NOUNS: [&str; 16] = [
    "Chair",
    "Lamp",
    "Backpack",
    "Teapot",
    "Jacket",
    "Desk",
    "Mug",
    "Blanket",
    "Watch",
    "Speaker",
    "Notebook",
    "Vase",
    "Sneakers",
    "Kettle",
    "Headphones",
    "Bookshelf",
];
const SENTENCES: [&str; 16] = [
    "Designed in a small studio and built to last for years of daily use.",
    "Every piece is inspected by hand before it leaves the workshop.",
    "The finish ages gracefully and develops a character of its own.",
    "Fits neatly into apartments, offices and holiday homes alike.",
    "Made from responsibly sourced materials with a low-impact process.",
    "Customers praise its balance of comfort, weight and durability.",
    "Easy to clean with a soft cloth and a drop of mild soap.",
    "Ships flat-packed in recyclable cardboard with no plastic filler.",
    "Pairs beautifully with the rest of the collection in this range.",
    "Backed by a five-year warranty and free repairs for the first year.",
    "Tested in our lab for more than ten thousand cycles of wear.",
    "Available in limited quantities while the season lasts.",
    "A quiet, understated design that still draws compliments.",
    "Each unit varies slightly in grain and tone, making it unique.",
    "Assembled in under ten minutes with the included tool.",
    "Returns are free within thirty days, no questions asked.",
];

/// SplitMix64 finaliser: a fast, well-mixed integer hash.
pub(super) fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a over bytes, then mixed.
fn hash_str(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

/// A xorshift64* stream: cheap deterministic pseudo-random numbers.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        Self(mix(seed) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        // n is small; modulo bias is irrelevant for synthetic content.
        (self.next_u64() % n as u64) as usize
    }
}

/// Display name of product `id`.
pub(super) fn product_name(id: u32) -> String {
    let h = mix(u64::from(id));
    format!(
        "{} {} {}",
        ADJECTIVES[(h % 16) as usize],
        MATERIALS[((h >> 8) % 12) as usize],
        NOUNS[((h >> 16) % 16) as usize]
    )
}

/// Price of product `id` in cents, 4.99 to 499.99.
pub(super) fn price_cents(id: u32) -> u64 {
    let h = mix(u64::from(id) ^ 0x0050_5249_4345);
    (h % 495 + 4) * 100 + 99
}

fn price_text(id: u32) -> String {
    let c = price_cents(id);
    format!("{}.{:02}", c / 100, c % 100)
}

/// When product `id` (its page, fragment and image) was last modified.
pub(super) fn last_modified(id: u32) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(CATALOG_EPOCH_SECS + u64::from(id) * 3600)
}

/// Last-Modified of the recommendations fragments: the catalog epoch.
pub(super) fn catalog_modified() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(CATALOG_EPOCH_SECS)
}

/// Strong entity tag (quoted) of a representation of product `id`; `kind` separates the
/// page, fragment and image of the same product.
pub(super) fn etag(kind: &str, id: u32) -> String {
    let h = mix(u64::from(id) ^ hash_str(kind));
    format!("\"{kind}-{id}-{:08x}\"", h as u32)
}

/// The full HTML product page of product `id`: a few KB.
pub(super) fn product_page(id: u32) -> Bytes {
    let name = product_name(id);
    let price = price_text(id);
    let mut rng = XorShift::new(u64::from(id) ^ 0xDE5C);
    let mut html = String::with_capacity(6 * 1024);
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{name} | Brink Demo Shop</title>\n\
         <link rel=\"stylesheet\" href=\"/static/shop.css\">\n</head>\n<body>\n\
         <header><a href=\"/\">Brink Demo Shop</a></header>\n\
         <main class=\"product\" data-product-id=\"{id}\">\n<h1>{name}</h1>\n\
         <img src=\"/images/{id}.jpg\" alt=\"{name}\" width=\"640\" height=\"480\">\n\
         <p class=\"price\">${price}</p>\n<p class=\"sku\">SKU BRK-{id:06}</p>\n\
         <section class=\"description\">\n"
    );
    let paragraphs = 6 + rng.below(6);
    for _ in 0..paragraphs {
        html.push_str("<p>");
        let sentences = 4 + rng.below(4);
        for s in 0..sentences {
            if s > 0 {
                html.push(' ');
            }
            html.push_str(SENTENCES[rng.below(SENTENCES.len())]);
        }
        html.push_str("</p>\n");
    }
    let _ = write!(
        html,
        "</section>\n<section class=\"specs\"><h2>Specifications</h2><ul>\n\
         <li>Weight: {} g</li>\n<li>Width: {} cm</li>\n<li>Height: {} cm</li>\n\
         <li>Material: {}</li>\n</ul></section>\n\
         <div id=\"stock\" data-src=\"/api/inventory/{id}\"></div>\n\
         <div id=\"recommendations\" data-src=\"/fragments/recommendations\"></div>\n\
         </main>\n<footer>Synthetic catalog served by Brink's demo origin.</footer>\n\
         </body>\n</html>\n",
        100 + rng.below(9_900),
        5 + rng.below(195),
        5 + rng.below(195),
        MATERIALS[((mix(u64::from(id)) >> 8) % 12) as usize],
    );
    Bytes::from(html)
}

/// The small HTML fragment of product `id` (name and price).
pub(super) fn product_fragment(id: u32) -> Bytes {
    let html = format!(
        "<div class=\"product-card\" data-product-id=\"{id}\">\
         <a href=\"/products/{id}\">{}</a> <span class=\"price\">${}</span></div>\n",
        product_name(id),
        price_text(id)
    );
    Bytes::from(html)
}

/// Deterministic list of distinct product ids recommended to `segment`.
pub(super) fn recommended_ids(segment: &str, catalog: u32) -> Vec<u32> {
    let want = RECOMMENDATIONS.min(catalog as usize);
    let mut rng = XorShift::new(hash_str(segment));
    let mut ids = Vec::with_capacity(want);
    while ids.len() < want {
        let id = (rng.next_u64() % u64::from(catalog)) as u32 + 1;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

/// Entity tag of the recommendations fragment of `segment` in a catalog of `catalog`.
pub(super) fn recommendations_etag(segment: &str, catalog: u32) -> String {
    let h = hash_str(segment) ^ mix(u64::from(catalog));
    format!("\"reco-{:016x}\"", mix(h))
}

/// The recommendations HTML fragment of `segment`; contains `{{segment}}` exactly once.
pub(super) fn recommendations_fragment(segment: &str, catalog: u32) -> Bytes {
    let mut html = format!(
        "<section class=\"recommendations\" data-segment=\"{}\">\n\
         <h2>Recommended for {{{{segment}}}}</h2>\n<ul>\n",
        escape_html(segment)
    );
    for id in recommended_ids(segment, catalog) {
        let _ = writeln!(
            html,
            "<li><a href=\"/products/{id}\">{}</a> <span class=\"price\">${}</span></li>",
            product_name(id),
            price_text(id)
        );
    }
    html.push_str("</ul>\n</section>\n");
    Bytes::from(html)
}

/// Size in bytes of image `id`: spread deterministically over `IMAGE_MIN..=IMAGE_MAX`.
pub(super) fn image_len(id: u32) -> usize {
    let span = (IMAGE_MAX - IMAGE_MIN + 1) as u64;
    IMAGE_MIN + (mix(u64::from(id) ^ 0x1A6E) % span) as usize
}

/// The bytes of image `id`: a JFIF header, a comment, a pseudo-random payload, an EOI marker.
pub(super) fn image_bytes(id: u32) -> Bytes {
    let len = image_len(id);
    let mut out = Vec::with_capacity(len);
    // SOI, APP0 "JFIF" 1.01, no density, no thumbnail.
    out.extend_from_slice(&[
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00, 0x00,
        0x01, 0x00, 0x01, 0x00, 0x00,
    ]);
    let comment = format!("brink demo image {id}");
    out.extend_from_slice(&[0xFF, 0xFE]);
    out.extend_from_slice(&((comment.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(comment.as_bytes());
    let mut rng = XorShift::new(u64::from(id) ^ 0x1A6E_5EED);
    while out.len() + 8 <= len - 2 {
        out.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    let tail = rng.next_u64().to_le_bytes();
    out.extend_from_slice(&tail[..len - 2 - out.len()]);
    out.extend_from_slice(&[0xFF, 0xD9]);
    Bytes::from(out)
}

/// Minimal HTML escaping for text and attribute values.
pub(super) fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}
