//! `[[zone]]` and `[[area]]`: polygons on a camera's picture and the places
//! they make together.

use super::*;

impl Builder {
    pub(super) fn zone(&mut self, t: Tbl) -> R<()> {
        t.check_keys()?;
        let (name, nspan) = t.req_str("name", "\"porch\"")?;
        unique(self.cfg.zones.iter().map(|z| z.name.as_str()), name, nspan.clone(), "zone")?;
        self.one_level_each("zone", name, nspan)?;
        let label = format!("[[zone]] \"{name}\"");
        let t = Tbl { label: &label, ..t };
        let (camera, cspan) = t.req_str("camera", "\"driveway\"")?;
        self.camera_exists(camera, cspan.clone(), &label)?;
        if let Some(node) = self.cfg.cameras.iter().find(|c| c.name == camera).and_then(|c| c.node.as_ref()) {
            return Err(Diag::new(cspan, "camera", format!("{label} is on camera \"{camera}\" of node \"{node}\": draw its zones on that node; its detections arrive here with the zones they are in")));
        }
        let Some(pv) = t.get("polygon") else {
            return Err(t.missing("polygon", "[[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]"));
        };
        let polygon = polygon(&t, pv)?;
        let anchor = match t.str("anchor")? {
            None => Anchor::BottomCenter,
            Some(("bottom_center", _)) => Anchor::BottomCenter,
            Some(("center", _)) => Anchor::Center,
            Some(("box", _)) => Anchor::Box,
            Some((other, span)) => {
                return Err(bad_word(span, "anchor", other, &label, &["bottom_center", "center", "box"]))
            }
        };
        self.cfg.zones.push(ZoneConfig {
            name: name.to_string(),
            camera: camera.to_string(),
            polygon,
            anchor,
        });
        Ok(())
    }

    pub(super) fn area(&mut self, t: Tbl) -> R<()> {
        t.check_keys()?;
        let (name, nspan) = t.req_str("name", "\"driveway\"")?;
        unique(self.cfg.areas.iter().map(|a| a.name.as_str()), name, nspan.clone(), "area")?;
        self.one_level_each("area", name, nspan.clone())?;
        if self.cfg.zones.iter().any(|z| z.name == name) {
            return Err(Diag::new(
                nspan,
                "name",
                format!("there is already a zone named \"{name}\"; an area needs a name of its own"),
            ));
        }
        let label = format!("[[area]] \"{name}\"");
        let t = Tbl { label: &label, ..t };
        let Some((zones, zspan)) = t.strings("zones")? else {
            return Err(t.missing("zones", "[\"driveway_front\", \"driveway_side\"]"));
        };
        if zones.is_empty() {
            return Err(Diag::new(zspan, "zones", format!("\"zones\" in {label} lists no zone")));
        }
        let mut names = Vec::new();
        for (z, span) in zones {
            self.zone_named(z, span.clone(), "zones", &label)?;
            if !names.iter().any(|n: &String| n == z) {
                names.push(z.to_string());
            }
        }
        self.cfg.areas.push(AreaConfig { name: name.to_string(), zones: names });
        Ok(())
    }

    /// The `[[zone]]` named `name`, or a "did you mean" refusal at `span` for `key`.
    pub(super) fn zone_named(
        &self,
        name: &str,
        span: Range<usize>,
        key: &str,
        label: &str,
    ) -> R<&ZoneConfig> {
        match self.cfg.zones.iter().find(|zc| zc.name == name) {
            Some(z) => Ok(z),
            None => Err(unknown_ref(
                span,
                key,
                name,
                label,
                self.cfg.zones.iter().map(|zc| zc.name.as_str()),
                "[[zone]]",
            )),
        }
    }
}

fn polygon(t: &Tbl, v: &Value) -> R<Vec<Point>> {
    let expected = "a list of [x, y] points, e.g. [[1000, 5000], [6000, 5000], [6000, 10000]]";
    let DeValue::Array(items) = v.get_ref() else { return Err(t.wrong("polygon", v, expected)) };
    let mut points = Vec::with_capacity(items.len());
    for item in items.iter() {
        let pair = match item.get_ref() {
            DeValue::Array(p) if p.len() == 2 => p,
            _ => return Err(t.wrong("polygon", item, "an [x, y] pair of integers")),
        };
        let mut xy = [0u32; 2];
        for (i, c) in pair.iter().enumerate() {
            let n = match c.get_ref() {
                DeValue::Integer(n) => i64::from_str_radix(n.as_str(), n.radix()).ok(),
                _ => return Err(t.wrong("polygon", c, "an integer from 0 to 10000")),
            };
            match n {
                Some(n) if (0..=MAX_COORD as i64).contains(&n) => xy[i] = n as u32,
                _ => {
                    return Err(Diag::new(
                        c.span(),
                        "polygon",
                        format!(
                            "point [{}] of {} is outside the picture: coordinates run from 0 to 10000",
                            item_text(pair),
                            t.label
                        ),
                    ))
                }
            }
        }
        points.push(Point { x: xy[0], y: xy[1] });
    }
    if points.len() < 3 {
        return Err(Diag::new(
            v.span(),
            "polygon",
            format!(
                "the polygon of {} has {} point{}; a zone needs at least 3 corners",
                t.label,
                points.len(),
                if points.len() == 1 { "" } else { "s" }
            ),
        ));
    }
    if let Some((i, j)) = crate::engine::geometry::self_intersection(&points) {
        let n = points.len();
        let edge = |k: usize| {
            let (a, b) = (points[k], points[(k + 1) % n]);
            format!("[{}, {}]–[{}, {}]", a.x, a.y, b.x, b.y)
        };
        return Err(Diag::new(
            v.span(),
            "polygon",
            format!(
                "the polygon of {} crosses itself: edge {} meets edge {}; list the corners in order around the zone",
                t.label,
                edge(i),
                edge(j)
            ),
        ));
    }
    Ok(points)
}

fn item_text(pair: &[Value]) -> String {
    pair.iter()
        .map(|c| match c.get_ref() {
            DeValue::Integer(n) => n.to_string(),
            other => other.type_str().to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
