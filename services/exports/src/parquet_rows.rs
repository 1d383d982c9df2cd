//! FOCUS rows as a Parquet file: the same columns as the CSV, typed (decimals as
//! `DECIMAL(38, 18)`, instants as UTC `TIMESTAMP(MICROS)`, text as UTF-8), written in row
//! groups of [`ROW_GROUP_ROWS`] so a month of a large cluster never sits in memory whole.

use crate::ExportError;
use chrono::DateTime;
use parquet::basic::Compression;
use parquet::data_type::{
    ByteArray, ByteArrayType, FixedLenByteArray, FixedLenByteArrayType, Int64Type,
};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use rust_decimal::Decimal;
use std::io::Write;
use std::str::FromStr;
use std::sync::Arc;

/// Rows buffered before they are written as one row group.
pub const ROW_GROUP_ROWS: usize = 16_384;
/// Decimal places kept: quantities and prices have at most 9, their products 18.
const SCALE: u32 = 18;

/// How a column is typed in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Instant,
    Number,
}

/// Writes rows of `columns` (each with its kind) as Parquet.
pub struct ParquetRows<W: Write + Send> {
    writer: SerializedFileWriter<W>,
    kinds: Vec<Kind>,
    /// Buffered values, column by column; `None` is null.
    buffered: Vec<Vec<Option<String>>>,
}

fn invalid(message: String) -> ExportError {
    ExportError::Inconsistent(message)
}

fn parquet_error(error: parquet::errors::ParquetError) -> ExportError {
    ExportError::Io(std::io::Error::other(error))
}

impl<W: Write + Send> ParquetRows<W> {
    pub fn new(out: W, columns: &[(&str, Kind)]) -> Result<Self, ExportError> {
        let fields: String = columns
            .iter()
            .map(|(name, kind)| match kind {
                Kind::Text => format!("optional binary {name} (UTF8);"),
                Kind::Instant => format!("optional int64 {name} (TIMESTAMP(MICROS,true));"),
                Kind::Number => {
                    format!("optional fixed_len_byte_array(16) {name} (DECIMAL(38,{SCALE}));")
                }
            })
            .collect();
        let schema =
            parse_message_type(&format!("message focus {{ {fields} }}")).map_err(parquet_error)?;
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let writer = SerializedFileWriter::new(out, Arc::new(schema), Arc::new(properties))
            .map_err(parquet_error)?;
        Ok(Self {
            writer,
            kinds: columns.iter().map(|(_, kind)| *kind).collect(),
            buffered: vec![Vec::with_capacity(ROW_GROUP_ROWS); columns.len()],
        })
    }

    /// Buffers a row (its values in column order, empty = null); writes a row group when full.
    pub fn push(&mut self, values: &[&str]) -> Result<(), ExportError> {
        for (column, value) in self.buffered.iter_mut().zip(values) {
            column.push((!value.is_empty()).then(|| (*value).to_owned()));
        }
        if self.buffered[0].len() >= ROW_GROUP_ROWS {
            self.write_group()?;
        }
        Ok(())
    }

    /// Writes what is buffered and the file's footer.
    pub fn finish(mut self) -> Result<W, ExportError> {
        if !self.buffered[0].is_empty() {
            self.write_group()?;
        }
        self.writer.into_inner().map_err(parquet_error)
    }

    fn write_group(&mut self) -> Result<(), ExportError> {
        let mut group = self.writer.next_row_group().map_err(parquet_error)?;
        let mut index = 0;
        while let Some(mut column) = group.next_column().map_err(parquet_error)? {
            let values = std::mem::take(&mut self.buffered[index]);
            let levels: Vec<i16> = values
                .iter()
                .map(|value| i16::from(value.is_some()))
                .collect();
            let present = values.into_iter().flatten();
            match self.kinds[index] {
                Kind::Text => {
                    let data: Vec<ByteArray> = present
                        .map(|text| ByteArray::from(text.into_bytes()))
                        .collect();
                    column
                        .typed::<ByteArrayType>()
                        .write_batch(&data, Some(&levels), None)
                }
                Kind::Instant => {
                    let data = present
                        .map(|text| {
                            DateTime::parse_from_rfc3339(&text)
                                .map(|at| at.timestamp_micros())
                                .map_err(|error| invalid(format!("instant `{text}`: {error}")))
                        })
                        .collect::<Result<Vec<i64>, _>>()?;
                    column
                        .typed::<Int64Type>()
                        .write_batch(&data, Some(&levels), None)
                }
                Kind::Number => {
                    let data = present
                        .map(|text| {
                            unscaled(&text)
                                .map(|value| FixedLenByteArray::from(value.to_be_bytes().to_vec()))
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    column
                        .typed::<FixedLenByteArrayType>()
                        .write_batch(&data, Some(&levels), None)
                }
            }
            .map_err(parquet_error)?;
            column.close().map_err(parquet_error)?;
            index += 1;
            self.buffered[index - 1] = Vec::with_capacity(ROW_GROUP_ROWS);
        }
        group.close().map_err(parquet_error)?;
        Ok(())
    }
}

/// A decimal's unscaled value at [`SCALE`] places, exactly.
fn unscaled(text: &str) -> Result<i128, ExportError> {
    let value =
        Decimal::from_str(text).map_err(|error| invalid(format!("decimal `{text}`: {error}")))?;
    let scale = value.scale();
    if scale > SCALE {
        return Err(invalid(format!(
            "decimal `{text}` has more than {SCALE} places"
        )));
    }
    value
        .mantissa()
        .checked_mul(10_i128.pow(SCALE - scale))
        .ok_or_else(|| invalid(format!("decimal `{text}` is too large")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_keep_every_place() {
        assert_eq!(unscaled("285.04").unwrap(), 285_040_000_000_000_000_000);
        assert_eq!(unscaled("-0.000000001").unwrap(), -1_000_000_000);
        assert!(unscaled("1.0000000000000000001").is_err());
    }
}
