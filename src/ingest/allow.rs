//! The `allow` list: which source networks may post.
//!
//! A list of CIDR blocks (`192.168.1.0/24`, `fd00::/8`) or single addresses.
//! IPv4-mapped IPv6 sources (`::ffff:192.168.1.5`, seen on a dual-stack
//! listener) are matched as the IPv4 address they carry.

use std::fmt;
use std::net::IpAddr;
use thiserror::Error;

/// One network: an address and how many leading bits must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_match(u32::from(net) as u128, u32::from(ip) as u128, self.prefix, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_match(u128::from(net), u128::from(ip), self.prefix, 128)
            }
            _ => false,
        }
    }
}

fn prefix_match(net: u128, ip: u128, prefix: u8, width: u8) -> bool {
    if prefix == 0 {
        return true;
    }
    let shift = u32::from(width - prefix);
    (net >> shift) == (ip >> shift)
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Why an `allow` entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AllowError {
    #[error("allow entry {entry:?}: {address:?} is not an IPv4 or IPv6 address; write e.g. \"192.168.1.0/24\", \"10.0.0.5\" or \"fd00::/8\"")]
    Address { entry: String, address: String },
    #[error("allow entry {entry:?}: prefix length {prefix:?} is not a number from 0 to {max}")]
    Prefix { entry: String, prefix: String, max: u8 },
    #[error("allow entry {entry:?} has host bits set after /{prefix}; did you mean \"{network}\"?")]
    HostBits { entry: String, prefix: u8, network: String },
}

/// Parse one entry: `a.b.c.d`, `a.b.c.d/n`, `v6addr`, `v6addr/n`.
pub fn parse_network(entry: &str) -> Result<Network, AllowError> {
    let text = entry.trim();
    let (addr_text, prefix_text) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let addr: IpAddr = addr_text
        .parse()
        .map_err(|_| AllowError::Address { entry: entry.to_string(), address: addr_text.to_string() })?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix_text {
        None => max,
        Some(p) => match p.parse::<u8>() {
            Ok(n) if n <= max && !p.starts_with('+') => n,
            _ => return Err(AllowError::Prefix { entry: entry.to_string(), prefix: p.to_string(), max }),
        },
    };
    let net = Network { addr, prefix };
    let masked = mask(addr, prefix);
    if masked != addr {
        return Err(AllowError::HostBits {
            entry: entry.to_string(),
            prefix,
            network: Network { addr: masked, prefix }.to_string(),
        });
    }
    Ok(net)
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let m = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let m = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix)) };
            IpAddr::V6((bits & m).into())
        }
    }
}

/// The parsed `allow` list. Empty allows every source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    networks: Vec<Network>,
}

impl AllowList {
    /// Parse every entry; the first bad one is the error.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, AllowError> {
        let networks = entries.iter().map(|e| parse_network(e.as_ref())).collect::<Result<_, _>>()?;
        Ok(AllowList { networks })
    }

    pub fn allows(&self, ip: IpAddr) -> bool {
        self.networks.is_empty() || self.networks.iter().any(|n| n.contains(ip))
    }

    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn matches_v4_v6_and_mapped() {
        let list = AllowList::parse(&["192.168.1.0/24", "10.0.0.5", "fd00::/8", "0.0.0.0/32"]).unwrap();
        assert!(list.allows(ip("192.168.1.77")));
        assert!(!list.allows(ip("192.168.2.1")));
        assert!(list.allows(ip("10.0.0.5")));
        assert!(!list.allows(ip("10.0.0.6")));
        assert!(list.allows(ip("fd12:3456::1")));
        assert!(!list.allows(ip("fe80::1")));
        assert!(list.allows(ip("::ffff:192.168.1.9")));
        assert!(!list.allows(ip("::ffff:192.168.3.9")));
        assert!(AllowList::parse(&["0.0.0.0/0"]).unwrap().allows(ip("8.8.8.8")));
        assert!(!AllowList::parse(&["0.0.0.0/0"]).unwrap().allows(ip("::1")));
        assert!(AllowList::parse::<&str>(&[]).unwrap().allows(ip("8.8.8.8")));
    }

    #[test]
    fn errors_say_what_to_write() {
        assert_eq!(
            parse_network("192.168.1.0/33").unwrap_err().to_string(),
            "allow entry \"192.168.1.0/33\": prefix length \"33\" is not a number from 0 to 32"
        );
        assert_eq!(
            parse_network("192.168.1.1/24").unwrap_err().to_string(),
            "allow entry \"192.168.1.1/24\" has host bits set after /24; did you mean \"192.168.1.0/24\"?"
        );
        assert_eq!(
            parse_network("cameras").unwrap_err().to_string(),
            "allow entry \"cameras\": \"cameras\" is not an IPv4 or IPv6 address; write e.g. \"192.168.1.0/24\", \"10.0.0.5\" or \"fd00::/8\""
        );
        assert!(matches!(parse_network("fd00::/129"), Err(AllowError::Prefix { max: 128, .. })));
        assert!(matches!(parse_network("10.0.0.0/"), Err(AllowError::Prefix { .. })));
    }
}
