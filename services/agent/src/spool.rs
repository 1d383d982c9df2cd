//! The agent's durable on-disk spool: every usage event is appended here, and fsync'd, before it
//! is produced, and stays until the broker has acknowledged it, so an unreachable broker costs
//! time, never events. Pure file I/O, no Kafka.
//!
//! Layout of the spool directory:
//! - `NNNNNNNNNNNNNNNNNNNN.seg`: append-only segments, named by the spool position (sequence
//!   number) of their first record. A record is `[body length u32 LE][CRC-32 of body u32 LE]`
//!   followed by the body `[key length u16 LE][key][payload]`.
//! - `ack`: the acknowledgement cursor, `[position u64 LE][CRC-32 u32 LE]`, replaced atomically
//!   (write, fsync, rename). Every record below the cursor has been acknowledged, in order.
//!   Segments whose records are all below it are deleted.
//! - `spool.lock`: held (`flock`) while an agent uses the directory, so two agents never
//!   interleave appends.
//!
//! A crash can tear only the newest segment's last records (older segments are fsync'd before
//! the next one is started); on open they fail their length or checksum and are truncated.
//! Records above the cursor are re-sent by the next run. The cursor is written lazily, so a crash
//! may re-send records the broker already has; the events are deterministic and the aggregator
//! drops duplicates by `(allocation, GPU, seq)`.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

const SEGMENT_SUFFIX: &str = ".seg";
const ACK_FILE: &str = "ack";
const ACK_TEMP_FILE: &str = "ack.tmp";
const LOCK_FILE: &str = "spool.lock";
/// Bytes in front of each record's body: its length and its CRC-32.
const HEADER_BYTES: u64 = 8;
/// Bytes of the key length at the start of a body.
const KEY_LENGTH_BYTES: u64 = 2;
/// Longest body a header may announce; a longer one is damage, not a record.
const MAX_BODY_BYTES: u32 = 16 << 20;
/// Segment size bounds. Segments are the unit of deletion, so acknowledged records can occupy
/// at most one segment's worth of the spool's bound.
const MIN_SEGMENT_BYTES: u64 = 64 << 10;
const MAX_SEGMENT_BYTES: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{dir} is in use by another agent ({LOCK_FILE} is locked)")]
    Locked { dir: PathBuf },
    #[error(
        "{path} is damaged at byte {offset}, before its last record ({reason}); it needs an operator"
    )]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: &'static str,
    },
    #[error(
        "a record of {bytes} bytes (key {key_bytes} bytes) can never fit a spool of {max_bytes} bytes"
    )]
    RecordTooLarge {
        bytes: u64,
        key_bytes: usize,
        max_bytes: u64,
    },
    #[error("{path}: record {seq} is damaged ({reason}); it needs an operator")]
    Damaged {
        path: PathBuf,
        seq: u64,
        reason: &'static str,
    },
    #[error("record {seq} cannot be read: the readable records are {first}..{end}")]
    NotReadable { seq: u64, first: u64, end: u64 },
    #[error("record {seq} acknowledged out of order: the next to acknowledge is {expected}")]
    AckOutOfOrder { seq: u64, expected: u64 },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One record read back from the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpooledRecord {
    pub seq: u64,
    pub key: Vec<u8>,
    pub payload: Vec<u8>,
}

/// What opening the spool found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Records a previous run spooled that were not acknowledged: they are sent first.
    pub unacknowledged: u64,
    /// Bytes of a torn tail (a write cut short by a crash) that were truncated.
    pub truncated_bytes: u64,
}

#[derive(Debug)]
struct Segment {
    first: u64,
    count: u64,
    bytes: u64,
    path: PathBuf,
}

impl Segment {
    fn end(&self) -> u64 {
        self.first + self.count
    }
}

/// Where sequential reads continue without re-scanning a segment.
#[derive(Debug)]
struct ReadCursor {
    seq: u64,
    segment_first: u64,
    file: BufReader<File>,
}

/// An open spool directory. Positions (`seq`) number every record ever appended, continuing
/// across runs.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    _lock: File,
    segments: VecDeque<Segment>,
    /// Append handle on the newest segment, if it is still there.
    writer: Option<File>,
    /// Records appended to the newest segment and not written to its file yet.
    unwritten: Vec<u8>,
    /// Next position to acknowledge: everything below is acknowledged.
    acked: u64,
    /// The cursor as last written to the `ack` file.
    persisted_ack: Option<u64>,
    /// Next position to append.
    end: u64,
    /// Records below this are fsync'd, and only those may be read (and so produced).
    durable_end: u64,
    /// Size of the segments on disk.
    bytes: u64,
    /// A segment was created since the directory was last fsync'd.
    directory_dirty: bool,
    reader: Option<ReadCursor>,
}

impl Spool {
    /// Opens (creating if needed) the spool in `dir`, bounded to `max_bytes` on disk, and
    /// recovers from a crash: a torn tail is truncated, acknowledged segments are deleted.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<(Self, Recovery), SpoolError> {
        fs::create_dir_all(dir).map_err(io_error(dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_error(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(SpoolError::Locked {
                    dir: dir.to_path_buf(),
                });
            }
            Err(TryLockError::Error(source)) => return Err(io_error(&lock_path)(source)),
        }

        let mut recovery = Recovery::default();
        let mut segments = VecDeque::new();
        let paths = segment_paths(dir)?;
        for (index, (first, path)) in paths.iter().enumerate() {
            let newest = index + 1 == paths.len();
            let (count, bytes) = scan_segment(path, newest, &mut recovery)?;
            if let Some(previous) = segments.back().map(Segment::end)
                && previous != *first
            {
                return Err(SpoolError::Corrupt {
                    path: path.clone(),
                    offset: 0,
                    reason: "segments are not contiguous",
                });
            }
            segments.push_back(Segment {
                first: *first,
                count,
                bytes,
                path: path.clone(),
            });
        }

        let persisted_ack = read_ack(&dir.join(ACK_FILE));
        let first = segments
            .front()
            .map(|s| s.first)
            .unwrap_or(persisted_ack.unwrap_or(0));
        let end = segments
            .back()
            .map(Segment::end)
            .unwrap_or(first)
            .max(persisted_ack.unwrap_or(0));
        // Records below the first segment were acknowledged and their segments deleted; a
        // cursor beyond the end can only follow lost segments, and then nothing is left to send.
        let acked = persisted_ack.unwrap_or(first).clamp(first, end);
        let writer = match segments.back() {
            Some(newest) => {
                let file = OpenOptions::new()
                    .append(true)
                    .open(&newest.path)
                    .map_err(io_error(&newest.path))?;
                // What survived in the page cache after a process crash is made durable before
                // any of it is produced.
                file.sync_data().map_err(io_error(&newest.path))?;
                Some(file)
            }
            None => None,
        };
        let mut spool = Self {
            dir: dir.to_path_buf(),
            max_bytes,
            segment_bytes: (max_bytes / 8).clamp(MIN_SEGMENT_BYTES, MAX_SEGMENT_BYTES),
            _lock: lock,
            bytes: segments.iter().map(|s| s.bytes).sum(),
            segments,
            writer,
            unwritten: Vec::new(),
            acked,
            persisted_ack,
            end,
            durable_end: end,
            directory_dirty: false,
            reader: None,
        };
        spool.delete_acknowledged_segments()?;
        spool.checkpoint()?;
        recovery.unacknowledged = spool.unacknowledged();
        Ok((spool, recovery))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Size of the spool's segments on disk: what `max_bytes` bounds.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Next position to acknowledge.
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// Next position to append.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Records below this position are on disk for good and may be produced.
    pub fn durable_end(&self) -> u64 {
        self.durable_end
    }

    /// Records spooled and not acknowledged yet.
    pub fn unacknowledged(&self) -> u64 {
        self.end - self.acked
    }

    /// Bytes a record with this key and payload takes on disk.
    pub fn record_bytes(key: &[u8], payload: &[u8]) -> u64 {
        HEADER_BYTES + KEY_LENGTH_BYTES + key.len() as u64 + payload.len() as u64
    }

    /// Appends a record and returns its position, or `None` when it would take the spool over
    /// its bound (nothing is written then). The record is durable after the next [`Spool::sync`].
    pub fn try_append(&mut self, key: &[u8], payload: &[u8]) -> Result<Option<u64>, SpoolError> {
        let bytes = Self::record_bytes(key, payload);
        let key_length = u16::try_from(key.len()).ok();
        let body_length = u32::try_from(bytes - HEADER_BYTES)
            .ok()
            .filter(|length| *length <= MAX_BODY_BYTES);
        let (Some(key_length), Some(body_length)) = (key_length, body_length) else {
            return Err(self.too_large(bytes, key.len()));
        };
        if bytes > self.max_bytes {
            return Err(self.too_large(bytes, key.len()));
        }
        if self.bytes + bytes > self.max_bytes {
            return Ok(None);
        }
        let rotate = match self.segments.back() {
            Some(newest) => {
                self.writer.is_none()
                    || (newest.count > 0 && newest.bytes + bytes > self.segment_bytes)
            }
            None => true,
        };
        if rotate {
            self.start_segment()?;
        }
        let Some(newest) = self.segments.back_mut() else {
            return Err(io_error(&self.dir)(io::Error::other(
                "no segment is open for appending",
            )));
        };

        // Written to the file by the next `sync` (or rotation): one write per batch.
        let start = self.unwritten.len();
        self.unwritten.extend_from_slice(&body_length.to_le_bytes());
        self.unwritten.extend_from_slice(&[0; 4]);
        self.unwritten.extend_from_slice(&key_length.to_le_bytes());
        self.unwritten.extend_from_slice(key);
        self.unwritten.extend_from_slice(payload);
        let body_start = start + HEADER_BYTES as usize;
        let checksum = crc32(&self.unwritten[body_start..]);
        self.unwritten[start + 4..body_start].copy_from_slice(&checksum.to_le_bytes());

        newest.count += 1;
        newest.bytes += bytes;
        self.bytes += bytes;
        let seq = self.end;
        self.end += 1;
        Ok(Some(seq))
    }

    /// Makes every appended record durable (one fsync for the whole batch).
    pub fn sync(&mut self) -> Result<(), SpoolError> {
        if self.durable_end == self.end {
            return Ok(());
        }
        self.write_appended()?;
        if let (Some(writer), Some(newest)) = (&self.writer, self.segments.back()) {
            writer.sync_data().map_err(io_error(&newest.path))?;
        }
        if self.directory_dirty {
            sync_directory(&self.dir)?;
            self.directory_dirty = false;
        }
        self.durable_end = self.end;
        Ok(())
    }

    /// Reads the durable record at `seq`; consecutive reads continue where the last one ended.
    pub fn read(&mut self, seq: u64) -> Result<SpooledRecord, SpoolError> {
        let first = self.segments.front().map_or(self.end, |s| s.first);
        if seq < first.max(self.acked) || seq >= self.durable_end {
            return Err(SpoolError::NotReadable {
                seq,
                first: first.max(self.acked),
                end: self.durable_end,
            });
        }
        let index = self.segments.partition_point(|s| s.end() <= seq);
        let Some(segment) = self.segments.get(index) else {
            return Err(SpoolError::NotReadable {
                seq,
                first,
                end: self.durable_end,
            });
        };
        let mut cursor = match self.reader.take() {
            Some(cursor) if cursor.seq == seq && cursor.segment_first == segment.first => cursor,
            _ => {
                let file = File::open(&segment.path).map_err(io_error(&segment.path))?;
                let mut cursor = ReadCursor {
                    seq: segment.first,
                    segment_first: segment.first,
                    file: BufReader::new(file),
                };
                while cursor.seq < seq {
                    let mut header = [0u8; HEADER_BYTES as usize];
                    cursor
                        .file
                        .read_exact(&mut header)
                        .map_err(io_error(&segment.path))?;
                    let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
                    cursor
                        .file
                        .seek_relative(i64::from(length))
                        .map_err(io_error(&segment.path))?;
                    cursor.seq += 1;
                }
                cursor
            }
        };
        let record = read_record(&mut cursor.file, seq).map_err(|error| match error {
            RecordError::Io(source) => io_error(&segment.path)(source),
            RecordError::Damaged(reason) => SpoolError::Damaged {
                path: segment.path.clone(),
                seq,
                reason,
            },
        })?;
        cursor.seq += 1;
        self.reader = Some(cursor);
        Ok(record)
    }

    /// Records that the broker acknowledged `seq`, which must be the oldest unacknowledged
    /// record. Deletes segments that are wholly acknowledged, and then writes the cursor.
    pub fn ack(&mut self, seq: u64) -> Result<(), SpoolError> {
        if seq != self.acked || seq >= self.end {
            return Err(SpoolError::AckOutOfOrder {
                seq,
                expected: self.acked,
            });
        }
        self.acked += 1;
        if self.delete_acknowledged_segments()? {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Writes the acknowledgement cursor if it moved. Cheap to call often.
    pub fn checkpoint(&mut self) -> Result<(), SpoolError> {
        if self.persisted_ack == Some(self.acked) {
            return Ok(());
        }
        let temp = self.dir.join(ACK_TEMP_FILE);
        let mut content = Vec::with_capacity(12);
        content.extend_from_slice(&self.acked.to_le_bytes());
        content.extend_from_slice(&crc32(&self.acked.to_le_bytes()).to_le_bytes());
        {
            let mut file = File::create(&temp).map_err(io_error(&temp))?;
            file.write_all(&content).map_err(io_error(&temp))?;
            file.sync_data().map_err(io_error(&temp))?;
        }
        let path = self.dir.join(ACK_FILE);
        fs::rename(&temp, &path).map_err(io_error(&path))?;
        sync_directory(&self.dir)?;
        self.persisted_ack = Some(self.acked);
        Ok(())
    }

    fn too_large(&self, bytes: u64, key_bytes: usize) -> SpoolError {
        SpoolError::RecordTooLarge {
            bytes,
            key_bytes,
            max_bytes: self.max_bytes,
        }
    }

    /// Starts a new segment at the end. The current one is fsync'd first, so a crash can only
    /// ever tear the newest segment.
    fn start_segment(&mut self) -> Result<(), SpoolError> {
        self.write_appended()?;
        if let (Some(writer), Some(newest)) = (&self.writer, self.segments.back()) {
            writer.sync_data().map_err(io_error(&newest.path))?;
        }
        let path = self.dir.join(format!("{:020}{SEGMENT_SUFFIX}", self.end));
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .map_err(io_error(&path))?;
        self.segments.push_back(Segment {
            first: self.end,
            count: 0,
            bytes: 0,
            path,
        });
        self.writer = Some(file);
        self.directory_dirty = true;
        Ok(())
    }

    /// Writes the appended records to the newest segment's file.
    fn write_appended(&mut self) -> Result<(), SpoolError> {
        if self.unwritten.is_empty() {
            return Ok(());
        }
        let (Some(writer), Some(newest)) = (self.writer.as_mut(), self.segments.back()) else {
            return Err(io_error(&self.dir)(io::Error::other(
                "no segment is open for appending",
            )));
        };
        writer
            .write_all(&self.unwritten)
            .map_err(io_error(&newest.path))?;
        self.unwritten.clear();
        Ok(())
    }

    /// Deletes the segments whose records are all acknowledged; true if any was.
    fn delete_acknowledged_segments(&mut self) -> Result<bool, SpoolError> {
        let mut deleted = false;
        while let Some(oldest) = self.segments.front() {
            if oldest.end() > self.acked || (oldest.count == 0 && self.segments.len() == 1) {
                break;
            }
            if self.segments.len() == 1 {
                self.writer = None;
            }
            if self
                .reader
                .as_ref()
                .is_some_and(|r| r.segment_first == oldest.first)
            {
                self.reader = None;
            }
            match fs::remove_file(&oldest.path) {
                Ok(()) => {}
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => return Err(io_error(&oldest.path)(error)),
            }
            self.bytes -= oldest.bytes;
            self.segments.pop_front();
            deleted = true;
        }
        Ok(deleted)
    }
}

/// The segment files of `dir`, oldest first.
fn segment_paths(dir: &Path) -> Result<Vec<(u64, PathBuf)>, SpoolError> {
    let mut paths = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let name = entry.file_name();
        let Some(first) = name
            .to_str()
            .and_then(|n| n.strip_suffix(SEGMENT_SUFFIX))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        paths.push((first, entry.path()));
    }
    paths.sort();
    Ok(paths)
}

/// Counts the valid records of a segment. A damaged tail of the newest segment is a write torn
/// by a crash and is truncated; damage anywhere else is reported.
fn scan_segment(
    path: &Path,
    newest: bool,
    recovery: &mut Recovery,
) -> Result<(u64, u64), SpoolError> {
    let data = fs::read(path).map_err(io_error(path))?;
    let mut offset = 0usize;
    let mut count = 0u64;
    let damage = loop {
        if offset == data.len() {
            break None;
        }
        match parse_record(&data[offset..]) {
            Ok(length) => {
                offset += length;
                count += 1;
            }
            Err(reason) => break Some(reason),
        }
    };
    if let Some(reason) = damage {
        if !newest {
            return Err(SpoolError::Corrupt {
                path: path.to_path_buf(),
                offset: offset as u64,
                reason,
            });
        }
        let torn = (data.len() - offset) as u64;
        tracing::warn!(
            path = %path.display(),
            offset,
            torn_bytes = torn,
            reason,
            "spool: truncating a record torn by a crash (it was never produced)"
        );
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io_error(path))?;
        file.set_len(offset as u64).map_err(io_error(path))?;
        file.sync_all().map_err(io_error(path))?;
        recovery.truncated_bytes += torn;
    }
    Ok((count, offset as u64))
}

/// Checks one record at the start of `data` and returns its length on disk.
fn parse_record(data: &[u8]) -> Result<usize, &'static str> {
    let Some((header, rest)) = data.split_first_chunk::<8>() else {
        return Err("incomplete header");
    };
    let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let checksum = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if u64::from(length) < KEY_LENGTH_BYTES || length > MAX_BODY_BYTES {
        return Err("impossible length");
    }
    let Some(body) = rest.get(..length as usize) else {
        return Err("incomplete body");
    };
    if crc32(body) != checksum {
        return Err("checksum mismatch");
    }
    let key_length = u16::from_le_bytes([body[0], body[1]]);
    if u64::from(key_length) > u64::from(length) - KEY_LENGTH_BYTES {
        return Err("key longer than the body");
    }
    Ok(HEADER_BYTES as usize + length as usize)
}

enum RecordError {
    Io(io::Error),
    Damaged(&'static str),
}

fn read_record(file: &mut impl Read, seq: u64) -> Result<SpooledRecord, RecordError> {
    let mut header = [0u8; HEADER_BYTES as usize];
    file.read_exact(&mut header).map_err(RecordError::Io)?;
    let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    if u64::from(length) < KEY_LENGTH_BYTES || length > MAX_BODY_BYTES {
        return Err(RecordError::Damaged("impossible length"));
    }
    let mut record = header.to_vec();
    record.resize(HEADER_BYTES as usize + length as usize, 0);
    file.read_exact(&mut record[HEADER_BYTES as usize..])
        .map_err(RecordError::Io)?;
    parse_record(&record).map_err(RecordError::Damaged)?;
    let body = &record[HEADER_BYTES as usize..];
    let key_length = usize::from(u16::from_le_bytes([body[0], body[1]]));
    let key_end = KEY_LENGTH_BYTES as usize + key_length;
    Ok(SpooledRecord {
        seq,
        key: body[KEY_LENGTH_BYTES as usize..key_end].to_vec(),
        payload: body[key_end..].to_vec(),
    })
}

/// The acknowledgement cursor, or `None` if the file is missing or damaged (then everything
/// spooled is re-sent: safe, only slower).
fn read_ack(path: &Path) -> Option<u64> {
    let data = match fs::read(path) {
        Ok(data) => data,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return None,
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "spool: cannot read the acknowledgement cursor; re-sending everything spooled");
            return None;
        }
    };
    let parsed = <[u8; 12]>::try_from(data.as_slice())
        .ok()
        .and_then(|bytes| {
            let (position, checksum) = bytes.split_first_chunk::<8>()?;
            let checksum = u32::from_le_bytes(*checksum.first_chunk::<4>()?);
            (crc32(position) == checksum).then_some(u64::from_le_bytes(*position))
        });
    if parsed.is_none() {
        tracing::warn!(path = %path.display(), "spool: the acknowledgement cursor is damaged; re-sending everything spooled");
    }
    parsed
}

fn sync_directory(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))
}

/// CRC-32 (IEEE 802.3, as zlib and gzip), table-driven.
pub fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut crc = i as u32;
            let mut bit = 0;
            while bit < 8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
                bit += 1;
            }
            table[i] = crc;
            i += 1;
        }
        table
    };
    !data.iter().fold(!0u32, |crc, byte| {
        TABLE[((crc ^ u32::from(*byte)) & 0xFF) as usize] ^ (crc >> 8)
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A directory under the system's temporary directory, removed when dropped.
    pub(crate) struct TempDir(pub(crate) PathBuf);

    impl TempDir {
        pub(crate) fn new() -> Self {
            let path = std::env::temp_dir().join(format!("gpubill-spool-{}", uuid::Uuid::new_v4()));
            fs::create_dir_all(&path).unwrap();
            Self(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// Segments are then MIN_SEGMENT_BYTES (64 KiB): about 460 of the test records each.
    const MAX: u64 = 512 << 10;

    fn payload(i: u64) -> Vec<u8> {
        format!("{{\"event\":{i},\"pad\":\"{}\"}}", "x".repeat(100)).into_bytes()
    }

    fn append(spool: &mut Spool, range: std::ops::Range<u64>) {
        for i in range {
            let seq = spool.try_append(b"r-1", &payload(i)).unwrap();
            assert_eq!(seq, Some(i));
        }
        spool.sync().unwrap();
    }

    fn read_all(spool: &mut Spool) -> Vec<SpooledRecord> {
        (spool.acked()..spool.durable_end())
            .map(|seq| spool.read(seq).unwrap())
            .collect()
    }

    fn segments(dir: &Path) -> Vec<(u64, PathBuf)> {
        segment_paths(dir).unwrap()
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn records_round_trip_and_acknowledged_segments_are_deleted() {
        let dir = TempDir::new();
        let (mut spool, recovery) = Spool::open(&dir.0, MAX).unwrap();
        assert_eq!(recovery, Recovery::default());
        append(&mut spool, 0..2000);
        assert!(segments(&dir.0).len() >= 4);
        let records = read_all(&mut spool);
        assert_eq!(records.len(), 2000);
        assert_eq!(records[1234].seq, 1234);
        assert_eq!(records[1234].key, b"r-1");
        assert_eq!(records[1234].payload, payload(1234));
        // A rewind reads from the middle of a segment.
        assert_eq!(spool.read(3).unwrap().payload, payload(3));
        assert_eq!(spool.read(4).unwrap().payload, payload(4));

        for seq in 0..1000 {
            spool.ack(seq).unwrap();
        }
        let left = segments(&dir.0);
        assert!(left.first().unwrap().0 <= 1000 && left.first().unwrap().0 > 0);
        assert_eq!(spool.unacknowledged(), 1000);
        assert!(matches!(
            spool.read(999),
            Err(SpoolError::NotReadable { .. })
        ));
        assert!(matches!(
            spool.ack(1001),
            Err(SpoolError::AckOutOfOrder {
                seq: 1001,
                expected: 1000
            })
        ));
        for seq in 1000..2000 {
            spool.ack(seq).unwrap();
        }
        assert!(segments(&dir.0).is_empty());
        assert_eq!(spool.bytes(), 0);

        // Positions go on after an empty spool is reopened.
        drop(spool);
        let (mut spool, recovery) = Spool::open(&dir.0, MAX).unwrap();
        assert_eq!(recovery.unacknowledged, 0);
        assert_eq!(spool.try_append(b"r-1", b"{}").unwrap(), Some(2000));
    }

    #[test]
    fn nothing_is_readable_before_it_is_synced() {
        let dir = TempDir::new();
        let (mut spool, _) = Spool::open(&dir.0, MAX).unwrap();
        spool.try_append(b"k", b"v").unwrap();
        assert!(matches!(spool.read(0), Err(SpoolError::NotReadable { .. })));
        spool.sync().unwrap();
        assert_eq!(spool.read(0).unwrap().payload, b"v");
    }

    #[test]
    fn unacknowledged_records_survive_a_restart_and_come_back_first() {
        let dir = TempDir::new();
        {
            let (mut spool, _) = Spool::open(&dir.0, MAX).unwrap();
            append(&mut spool, 0..600);
            for seq in 0..250 {
                spool.ack(seq).unwrap();
            }
            spool.checkpoint().unwrap();
            // Acknowledged after the last checkpoint: re-sent after a crash, which is safe.
            spool.ack(250).unwrap();
        }
        let (mut spool, recovery) = Spool::open(&dir.0, MAX).unwrap();
        assert_eq!(recovery.unacknowledged, 350);
        assert_eq!(spool.acked(), 250);
        let records = read_all(&mut spool);
        assert_eq!(records.first().unwrap().seq, 250);
        assert_eq!(records.last().unwrap().payload, payload(599));
        append(&mut spool, 600..610);
        assert_eq!(spool.unacknowledged(), 360);
    }

    #[test]
    fn a_torn_last_record_is_truncated_not_fatal() {
        for tear in ["half a record", "bad checksum", "zeros"] {
            let dir = TempDir::new();
            {
                let (mut spool, _) = Spool::open(&dir.0, MAX).unwrap();
                append(&mut spool, 0..5);
            }
            let (_, newest) = segments(&dir.0).pop().unwrap();
            let mut data = fs::read(&newest).unwrap();
            let intact = data.len();
            match tear {
                "half a record" => {
                    let copy = data[..intact / 5].to_vec();
                    data.extend_from_slice(&copy[..copy.len() / 2]);
                }
                "bad checksum" => {
                    let last = data.len() - 3;
                    data[last] ^= 0x55;
                }
                _ => data.extend_from_slice(&[0; 100]),
            }
            fs::write(&newest, &data).unwrap();

            let (mut spool, recovery) = Spool::open(&dir.0, MAX).unwrap();
            let kept = if tear == "bad checksum" { 4 } else { 5 };
            assert_eq!(recovery.unacknowledged, kept, "{tear}");
            assert!(recovery.truncated_bytes > 0, "{tear}");
            assert_eq!(read_all(&mut spool).len() as u64, kept, "{tear}");
            // The spool goes on appending after the truncated tail.
            append(&mut spool, kept..kept + 2);
            assert_eq!(spool.read(kept + 1).unwrap().payload, payload(kept + 1));
            drop(spool);
            let (_, recovery) = Spool::open(&dir.0, MAX).unwrap();
            assert_eq!(recovery.truncated_bytes, 0, "{tear}");
            assert_eq!(recovery.unacknowledged, kept + 2, "{tear}");
        }
    }

    #[test]
    fn damage_before_the_newest_segment_is_an_error() {
        let dir = TempDir::new();
        {
            let (mut spool, _) = Spool::open(&dir.0, MAX).unwrap();
            append(&mut spool, 0..1000);
        }
        let (_, oldest) = segments(&dir.0).remove(0);
        let mut data = fs::read(&oldest).unwrap();
        data[20] ^= 0x01;
        fs::write(&oldest, &data).unwrap();
        let error = Spool::open(&dir.0, MAX).unwrap_err();
        assert!(
            matches!(error, SpoolError::Corrupt { offset: 0, .. }),
            "{error}"
        );
    }

    #[test]
    fn a_damaged_cursor_re_sends_everything_spooled() {
        let dir = TempDir::new();
        {
            let (mut spool, _) = Spool::open(&dir.0, MAX).unwrap();
            append(&mut spool, 0..10);
            for seq in 0..5 {
                spool.ack(seq).unwrap();
            }
            spool.checkpoint().unwrap();
        }
        fs::write(dir.0.join(ACK_FILE), b"garbage").unwrap();
        let (spool, recovery) = Spool::open(&dir.0, MAX).unwrap();
        assert_eq!((spool.acked(), recovery.unacknowledged), (0, 10));
    }

    #[test]
    fn a_full_spool_refuses_appends_until_acknowledgements_free_a_segment() {
        let dir = TempDir::new();
        let max = 4 * MIN_SEGMENT_BYTES;
        let (mut spool, _) = Spool::open(&dir.0, max).unwrap();
        let mut appended = 0;
        while spool
            .try_append(b"r-1", &payload(appended))
            .unwrap()
            .is_some()
        {
            appended += 1;
        }
        spool.sync().unwrap();
        assert!(spool.bytes() <= max);
        assert!(spool.bytes() + Spool::record_bytes(b"r-1", &payload(0)) > max);
        // Acknowledging records of the oldest segment frees nothing until all of it is.
        spool.ack(0).unwrap();
        assert_eq!(spool.try_append(b"r-1", &payload(appended)).unwrap(), None);
        let first_segment_end = segments(&dir.0)[1].0;
        for seq in 1..first_segment_end {
            spool.ack(seq).unwrap();
        }
        assert_eq!(
            spool.try_append(b"r-1", &payload(appended)).unwrap(),
            Some(appended)
        );

        let error = spool
            .try_append(b"r-1", &vec![b'x'; max as usize])
            .unwrap_err();
        assert!(
            matches!(error, SpoolError::RecordTooLarge { .. }),
            "{error}"
        );
    }

    #[test]
    fn one_agent_per_spool_directory() {
        let dir = TempDir::new();
        let (spool, _) = Spool::open(&dir.0, MAX).unwrap();
        assert!(matches!(
            Spool::open(&dir.0, MAX),
            Err(SpoolError::Locked { .. })
        ));
        drop(spool);
        Spool::open(&dir.0, MAX).unwrap();
    }
}
