//! Zones on the picture: point-in-polygon, box-in-polygon and the simple-polygon check.
//!
//! Exact integer arithmetic on the 0–10000 picture space (products fit in
//! `i64` with room to spare), so a point on an edge is on it, not "probably".
//! Owns no state and knows nothing of rules.

use crate::decode::{Point, Rect};
use crate::words::Anchor;

#[inline]
fn cross(o: Point, a: Point, b: Point) -> i64 {
    let (ox, oy) = (o.x as i64, o.y as i64);
    (a.x as i64 - ox) * (b.y as i64 - oy) - (a.y as i64 - oy) * (b.x as i64 - ox)
}

/// `p` lies on the closed segment `a`–`b`.
#[inline]
pub fn on_segment(p: Point, a: Point, b: Point) -> bool {
    cross(a, b, p) == 0
        && p.x >= a.x.min(b.x)
        && p.x <= a.x.max(b.x)
        && p.y >= a.y.min(b.y)
        && p.y <= a.y.max(b.y)
}

/// The closed segments `a`–`b` and `c`–`d` share at least one point.
pub fn segments_touch(a: Point, b: Point, c: Point, d: Point) -> bool {
    let d1 = cross(c, d, a).signum();
    let d2 = cross(c, d, b).signum();
    let d3 = cross(a, b, c).signum();
    let d4 = cross(a, b, d).signum();
    if d1 * d2 < 0 && d3 * d4 < 0 {
        return true;
    }
    on_segment(a, c, d) || on_segment(b, c, d) || on_segment(c, a, b) || on_segment(d, a, b)
}

/// Inside the polygon or on its boundary (even-odd rule; validated zones are simple,
/// where even-odd and winding agree).
pub fn point_in_polygon(p: Point, poly: &[Point]) -> bool {
    let n = poly.len();
    if n < 3 {
        return false;
    }
    let (px, py) = (p.x as i64, p.y as i64);
    let mut inside = false;
    let mut j = n - 1;
    for i in 0..n {
        let (a, b) = (poly[j], poly[i]);
        if on_segment(p, a, b) {
            return true;
        }
        let (ay, by) = (a.y as i64, b.y as i64);
        if (ay > py) != (by > py) {
            // Where the edge crosses the horizontal through p, relative to p.x,
            // without dividing: sign(num) * sign(den) > 0 means to the right.
            let num = (a.x as i64 - px) * (by - ay) + (py - ay) * (b.x as i64 - a.x as i64);
            let den = by - ay;
            if (num > 0) == (den > 0) && num != 0 {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

/// The whole box lies inside the polygon (touching the boundary counts as inside).
pub fn box_in_polygon(r: &Rect, poly: &[Point]) -> bool {
    let (x1, x2) = (r.x1.min(r.x2), r.x1.max(r.x2));
    let (y1, y2) = (r.y1.min(r.y2), r.y1.max(r.y2));
    let corners =
        [Point { x: x1, y: y1 }, Point { x: x2, y: y1 }, Point { x: x2, y: y2 }, Point { x: x1, y: y2 }];
    if !corners.iter().all(|c| point_in_polygon(*c, poly)) {
        return false;
    }
    // All corners in: the box is outside somewhere only if the boundary enters it,
    // through a corner of the polygon strictly inside the box or an edge crossing it.
    if poly.iter().any(|v| v.x > x1 && v.x < x2 && v.y > y1 && v.y < y2) {
        return false;
    }
    let n = poly.len();
    for i in 0..n {
        let (a, b) = (poly[i], poly[(i + 1) % n]);
        for k in 0..4 {
            let (c, d) = (corners[k], corners[(k + 1) % 4]);
            let d1 = cross(c, d, a).signum();
            let d2 = cross(c, d, b).signum();
            let d3 = cross(a, b, c).signum();
            let d4 = cross(a, b, d).signum();
            if d1 * d2 < 0 && d3 * d4 < 0 {
                return false;
            }
        }
    }
    true
}

/// Is a target with box `r` in the zone, judged by `anchor`.
pub fn target_in_zone(r: &Rect, anchor: Anchor, poly: &[Point]) -> bool {
    match anchor {
        Anchor::BottomCenter => point_in_polygon(r.bottom_center(), poly),
        Anchor::Center => point_in_polygon(r.center(), poly),
        Anchor::Box => box_in_polygon(r, poly),
    }
}

/// The first pair of edges (by index; edge `i` runs from point `i` to `i+1`)
/// that meet anywhere but at the corner they share, or `None` for a simple polygon.
pub fn self_intersection(poly: &[Point]) -> Option<(usize, usize)> {
    let n = poly.len();
    if n < 3 {
        // Not a polygon at all: the caller reports the point count.
        return None;
    }
    let edge = |i: usize| (poly[i], poly[(i + 1) % n]);
    for i in 0..n {
        let (a, b) = edge(i);
        if a == b {
            return Some((i, i));
        }
        for j in i + 1..n {
            let (c, d) = edge(j);
            let adjacent = j == i + 1 || (i == 0 && j == n - 1);
            if adjacent {
                // They share one corner; they overlap if they fold back along one line.
                let (shared, other_i, other_j) = if j == i + 1 { (b, a, d) } else { (a, b, c) };
                if cross(other_i, shared, other_j) == 0 {
                    // Collinear: overlapping unless they point away from the shared corner.
                    let v1 = (other_i.x as i64 - shared.x as i64, other_i.y as i64 - shared.y as i64);
                    let v2 = (other_j.x as i64 - shared.x as i64, other_j.y as i64 - shared.y as i64);
                    if v1.0 * v2.0 + v1.1 * v2.1 > 0 {
                        return Some((i, j));
                    }
                }
                continue;
            }
            if segments_touch(a, b, c, d) {
                return Some((i, j));
            }
        }
    }
    // A polygon whose corners all lie on one line has no inside.
    if poly.iter().all(|p| cross(poly[0], poly[1], *p) == 0) {
        return Some((0, n - 1));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(x: u32, y: u32) -> Point {
        Point { x, y }
    }

    fn square() -> Vec<Point> {
        vec![p(1000, 1000), p(5000, 1000), p(5000, 5000), p(1000, 5000)]
    }

    #[test]
    fn inside_outside_and_edges() {
        let sq = square();
        assert!(point_in_polygon(p(3000, 3000), &sq));
        assert!(!point_in_polygon(p(6000, 3000), &sq));
        assert!(point_in_polygon(p(5000, 3000), &sq), "right edge");
        assert!(point_in_polygon(p(1000, 1000), &sq), "corner");
        assert!(point_in_polygon(p(3000, 5000), &sq), "bottom edge");
        assert!(!point_in_polygon(p(5001, 3000), &sq));
    }

    #[test]
    fn detects_bow_tie_and_folds() {
        let bow = vec![p(0, 0), p(100, 100), p(100, 0), p(0, 100)];
        assert_eq!(self_intersection(&bow), Some((0, 2)));
        assert_eq!(self_intersection(&square()), None);
        let fold = vec![p(0, 0), p(100, 0), p(50, 0)];
        assert!(self_intersection(&fold).is_some());
        let line = vec![p(0, 0), p(50, 0), p(100, 0), p(70, 0)];
        assert!(self_intersection(&line).is_some());
    }

    #[test]
    fn box_inside_concave_polygon() {
        // A U shape: the notch cuts into the middle from the top.
        let u = vec![
            p(0, 0),
            p(3000, 0),
            p(3000, 6000),
            p(6000, 6000),
            p(6000, 0),
            p(9000, 0),
            p(9000, 9000),
            p(0, 9000),
        ];
        assert!(box_in_polygon(&Rect { x1: 500, y1: 500, x2: 2500, y2: 8000 }, &u));
        // Corners all inside the legs and bottom, but the notch runs through it.
        assert!(!box_in_polygon(&Rect { x1: 1000, y1: 5000, x2: 8000, y2: 8000 }, &u));
    }
}
