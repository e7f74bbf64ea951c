//! A small element tree for the devices' answers, and its writer for Set commands.
//!
//! Answers are a few kilobytes (a v2.0 snapshot's base64 is the exception,
//! and is one text node), so a tree is simpler than streaming and costs
//! nothing. Text is trimmed: devices wrap CDATA in newlines and indentation.
//! Owns parsing and writing only; what the elements mean is `answer.rs`'s.
//!
//! Whatever answers as the camera is not trusted: a tree is bounded in
//! elements ([`MAX_ELEMENTS`]), attributes and depth, so an "element bomb"
//! (megabytes of `<a/>`) costs a refused answer, not a hundred megabytes.

use quick_xml::events::Event as XmlEvent;
use quick_xml::Reader;

/// One element: name without namespace prefix, attributes, trimmed text, children.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Element>,
}

/// Deepest nesting accepted: answers are a handful of levels deep.
const MAX_DEPTH: usize = 32;
/// Elements one answer may hold. The largest real answer (a slot list, or a
/// region list of 4 × 8 points) has a few hundred; each element costs about
/// a hundred bytes in the tree, so this bounds a tree near 400 KB.
pub const MAX_ELEMENTS: usize = 4096;
/// Attributes one element may carry (devices use `type`, `count`, `maxCount`).
const MAX_ATTRIBUTES: usize = 16;

impl Element {
    pub fn new(name: &str) -> Element {
        Element { name: name.to_string(), ..Element::default() }
    }

    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn child_mut(&mut self, name: &str) -> Option<&mut Element> {
        self.children.iter_mut().find(|c| c.name == name)
    }

    /// The element at a path of child names.
    pub fn at(&self, path: &[&str]) -> Option<&Element> {
        path.iter().try_fold(self, |e, name| e.child(name))
    }

    /// The trimmed text at a path, if non-empty.
    pub fn text_at(&self, path: &[&str]) -> Option<&str> {
        self.at(path).map(|e| e.text.as_str()).filter(|t| !t.is_empty())
    }

    /// Children named `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn with_text(mut self, text: impl Into<String>) -> Element {
        self.text = text.into();
        self
    }

    pub fn with_attr(mut self, k: &str, v: &str) -> Element {
        self.attrs.push((k.to_string(), v.to_string()));
        self
    }

    pub fn push(&mut self, child: Element) {
        self.children.push(child);
    }

    /// Write as XML. Text of `type="string"` elements goes in CDATA, as the devices send it.
    pub fn write(&self, out: &mut String) {
        out.push('<');
        out.push_str(&self.name);
        for (k, v) in &self.attrs {
            out.push_str(&format!(" {k}=\"{}\"", escape(v)));
        }
        if self.text.is_empty() && self.children.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        if !self.text.is_empty() {
            if self.attr("type") == Some("string") && !self.text.contains("]]>") {
                out.push_str("<![CDATA[");
                out.push_str(&self.text);
                out.push_str("]]>");
            } else {
                out.push_str(&escape(&self.text));
            }
        }
        for c in &self.children {
            c.write(out);
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn local_name(raw: &[u8]) -> String {
    let name = String::from_utf8_lossy(raw);
    match name.rsplit_once(':') {
        Some((_, local)) => local.to_string(),
        None => name.into_owned(),
    }
}

/// Parse a document into its root element.
pub fn parse(body: &[u8]) -> Result<Element, String> {
    let mut reader = Reader::from_reader(body);
    let mut stack: Vec<Element> = Vec::new();
    let mut buf = Vec::new();
    let mut elements = 0usize;
    let mut start = |e: &quick_xml::events::BytesStart| -> Result<Element, String> {
        elements += 1;
        if elements > MAX_ELEMENTS {
            return Err(format!("more than {MAX_ELEMENTS} elements; no answer of the API is that large"));
        }
        let mut el = Element::new(&local_name(e.name().as_ref()));
        for a in e.attributes() {
            if el.attrs.len() >= MAX_ATTRIBUTES {
                return Err(format!("an element with more than {MAX_ATTRIBUTES} attributes"));
            }
            let a = a.map_err(|e| format!("bad attribute: {e}"))?;
            let v = a.unescape_value().map_err(|e| format!("bad attribute value: {e}"))?;
            el.attrs.push((local_name(a.key.as_ref()), v.into_owned()));
        }
        Ok(el)
    };
    loop {
        let ev = reader.read_event_into(&mut buf).map_err(|e| format!("not XML: {e}"))?;
        match ev {
            XmlEvent::Start(e) => {
                if stack.len() >= MAX_DEPTH {
                    return Err("nested too deeply".into());
                }
                stack.push(start(&e)?);
            }
            XmlEvent::Empty(e) => {
                let el = start(&e)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => return Ok(el),
                }
            }
            XmlEvent::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    let text = t.unescape().map_err(|e| format!("bad text: {e}"))?;
                    top.text.push_str(text.trim());
                }
            }
            XmlEvent::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(String::from_utf8_lossy(&c.into_inner()).trim());
                }
            }
            XmlEvent::End(_) => {
                let Some(done) = stack.pop() else { return Err("unbalanced end tag".into()) };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => return Ok(done),
                }
            }
            XmlEvent::Eof => return Err("the document ends early".into()),
            _ => {}
        }
        buf.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdata_with_surrounding_whitespace_is_trimmed_and_namespaces_dropped() {
        let doc = b"<?xml version=\"1.0\"?>\n<config xmlns=\"http://www.ipc.com/ver10\" version=\"2.0.0\">\n  <deviceInfo>\n    <softwareVersion type=\"string\">\n      <![CDATA[5.3.0.1]]>\n    </softwareVersion>\n    <x:mac type=\"string\"><![CDATA[ 70:ab:c8:1b:5d:dc ]]></x:mac>\n  </deviceInfo>\n</config>";
        let root = parse(doc).unwrap();
        assert_eq!(root.attr("version"), Some("2.0.0"));
        assert_eq!(root.text_at(&["deviceInfo", "softwareVersion"]), Some("5.3.0.1"));
        assert_eq!(root.text_at(&["deviceInfo", "mac"]), Some("70:ab:c8:1b:5d:dc"));
        let mut out = String::new();
        root.child("deviceInfo").unwrap().write(&mut out);
        assert!(
            out.contains("<softwareVersion type=\"string\"><![CDATA[5.3.0.1]]></softwareVersion>"),
            "{out}"
        );
        assert!(parse(b"<config><a>").is_err());
    }

    #[test]
    fn an_element_bomb_is_refused_early() {
        let mut bomb = b"<config>".to_vec();
        for _ in 0..200_000 {
            bomb.extend_from_slice(b"<a/>");
        }
        bomb.extend_from_slice(b"</config>");
        let err = parse(&bomb).unwrap_err();
        assert!(err.contains("more than 4096 elements"), "{err}");
        let many: String = (0..40).map(|i| format!(" a{i}=\"x\"")).collect();
        assert!(parse(format!("<config{many}/>").as_bytes()).unwrap_err().contains("attributes"));
    }
}
