//! RFC 4180 CSV: fields quoted when they hold a comma, a quote or a line break (quotes doubled),
//! records ended by CR LF.

use std::io::{self, Write};

/// Writes one record.
pub fn record<W: Write, S: AsRef<str>>(out: &mut W, fields: &[S]) -> io::Result<()> {
    for (index, field) in fields.iter().enumerate() {
        if index > 0 {
            out.write_all(b",")?;
        }
        let field = field.as_ref();
        if field.contains([',', '"', '\r', '\n']) {
            out.write_all(b"\"")?;
            out.write_all(field.replace('"', "\"\"").as_bytes())?;
            out.write_all(b"\"")?;
        } else {
            out.write_all(field.as_bytes())?;
        }
    }
    out.write_all(b"\r\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn fields_with_separators_are_quoted_and_quotes_doubled() {
        let mut out = Vec::new();
        super::record(&mut out, &["a", "b,c", "say \"hi\"", "x\ny", ""]).unwrap();
        assert_eq!(out, b"a,\"b,c\",\"say \"\"hi\"\"\",\"x\ny\",\r\n");
    }
}
