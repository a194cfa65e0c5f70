//! `extractFromUVCI`: fragment `index` of a UCI, split on `/`, `#` and `:`,
//! ignoring an optional `URN:UVCI:` prefix. No format check (by design).

pub(crate) fn extract(uvci: &str, index: i64) -> Option<&str> {
    let index = usize::try_from(index).ok()?;
    uvci.strip_prefix("URN:UVCI:")
        .unwrap_or(uvci)
        .split(['/', '#', ':'])
        .nth(index)
}

#[cfg(test)]
mod tests {
    use super::extract;

    #[test]
    fn fragments() {
        assert_eq!(extract("a::c/#/f", 1), Some(""));
        assert_eq!(extract("a::c/#/f", 5), Some("f"));
        assert_eq!(extract("a::c/#/f", 6), None);
        assert_eq!(extract("URN:UVCI:01:NL:187/37512422923", 0), Some("01"));
        assert_eq!(extract("urn:uvci:01", 0), Some("urn"));
        assert_eq!(extract("", 0), Some(""));
        assert_eq!(extract("x", -1), None);
    }
}
