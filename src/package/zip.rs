//! The two things a Lambda zip needs from this binary: write a one-entry archive (`bootstrap`,
//! deflated, executable bit in the external attributes), and read a given archive's entry sizes
//! and its `bootstrap` entry. Only what PKWARE's APPNOTE.TXT (sections 4.3.7 local file header,
//! 4.3.12 central directory header, 4.3.16 end of central directory) says for plain archives:
//! no ZIP64 (a package under Lambda's 250 MB limit needs none), no encryption, methods 0 (stored)
//! and 8 (deflate). Deflate is miniz_oxide's, the pure-Rust codec flate2 uses by default.

/// Signatures (APPNOTE 4.3.7, 4.3.12, 4.3.16).
const LOCAL: u32 = 0x0403_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const END: u32 = 0x0605_4b50;
/// "Version made by": upper byte 3 = UNIX, so readers take the upper 16 bits of the external
/// attributes as the st_mode (APPNOTE 4.4.2, 4.4.15); lower byte 20 = spec 2.0 (deflate).
const MADE_BY_UNIX: u16 = (3 << 8) | 20;
const NEEDED: u16 = 20;
/// A regular file, rwxr-xr-x: Lambda runs `bootstrap` as an executable ("Permission denied"
/// otherwise; Lambda developer guide, "Deployment package permissions": 755 for executables).
const EXECUTABLE_MODE: u32 = 0o100_755;
/// 1980-01-01 00:00 in MS-DOS date/time: a fixed timestamp, so the same binary gives the same
/// bytes and the same content-addressed key.
const DOS_DATE: u16 = (1 << 5) | 1;
const DOS_TIME: u16 = 0;

/// A zip holding `bytes` as an executable entry `name`. None when the entry does not fit a plain
/// (non-ZIP64) archive.
pub fn single_executable(name: &str, bytes: &[u8]) -> Option<Vec<u8>> {
    let deflated = miniz_oxide::deflate::compress_to_vec(bytes, 6);
    let crc = crc32fast::hash(bytes);
    let (csize, usize_) = (u32::try_from(deflated.len()).ok()?, u32::try_from(bytes.len()).ok()?);
    let name_len = u16::try_from(name.len()).ok()?;
    let mut out = Vec::with_capacity(deflated.len() + 128);
    let common = |out: &mut Vec<u8>| {
        put16(out, NEEDED);
        put16(out, 0); // flags
        put16(out, 8); // deflate
        put16(out, DOS_TIME);
        put16(out, DOS_DATE);
        put32(out, crc);
        put32(out, csize);
        put32(out, usize_);
        put16(out, name_len);
        put16(out, 0); // extra field length
    };
    put32(&mut out, LOCAL);
    common(&mut out);
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(&deflated);
    let central_at = u32::try_from(out.len()).ok()?;
    put32(&mut out, CENTRAL);
    put16(&mut out, MADE_BY_UNIX);
    common(&mut out);
    put16(&mut out, 0); // comment length
    put16(&mut out, 0); // disk number start
    put16(&mut out, 0); // internal attributes
    put32(&mut out, EXECUTABLE_MODE << 16);
    put32(&mut out, 0); // local header offset
    out.extend_from_slice(name.as_bytes());
    let central_size = u32::try_from(out.len()).ok()? - central_at;
    put32(&mut out, END);
    put16(&mut out, 0);
    put16(&mut out, 0);
    put16(&mut out, 1);
    put16(&mut out, 1);
    put32(&mut out, central_size);
    put32(&mut out, central_at);
    put16(&mut out, 0);
    Some(out)
}

/// One central directory entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub method: u16,
    pub crc: u32,
    pub compressed: u64,
    pub uncompressed: u64,
    /// The st_mode when the archive was made on UNIX (upper 16 bits of the external attributes).
    pub unix_mode: Option<u32>,
    local_header: usize,
}

impl Entry {
    pub fn executable(&self) -> bool {
        self.unix_mode.is_some_and(|m| m & 0o111 != 0)
    }
}

/// The central directory of an archive; Err says why it cannot be read.
pub fn entries(zip: &[u8]) -> Result<Vec<Entry>, String> {
    let end = find_end(zip).ok_or("not a zip archive (no end of central directory record)")?;
    let count = usize::from(u16_at(zip, end + 10).unwrap_or(0));
    let offset = u32_at(zip, end + 16).unwrap_or(0);
    if count == 0xffff || offset == 0xffff_ffff {
        return Err("a ZIP64 archive (a Lambda package under 250 MB needs none; zip it with `zip`)".into());
    }
    let mut at = usize::try_from(offset).map_err(|_| "a corrupt central directory")?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let entry = central_entry(zip, at).ok_or("a corrupt central directory entry")?;
        at = entry.1;
        out.push(entry.0);
    }
    Ok(out)
}

fn central_entry(zip: &[u8], at: usize) -> Option<(Entry, usize)> {
    if u32_at(zip, at)? != CENTRAL {
        return None;
    }
    let made_by = u16_at(zip, at + 4)?;
    let name_len = usize::from(u16_at(zip, at + 28)?);
    let extra_len = usize::from(u16_at(zip, at + 30)?);
    let comment_len = usize::from(u16_at(zip, at + 32)?);
    let external = u32_at(zip, at + 38)?;
    let name = zip.get(at + 46..at + 46 + name_len)?;
    let entry = Entry {
        name: String::from_utf8_lossy(name).into_owned(),
        method: u16_at(zip, at + 10)?,
        crc: u32_at(zip, at + 16)?,
        compressed: u64::from(u32_at(zip, at + 20)?),
        uncompressed: u64::from(u32_at(zip, at + 24)?),
        unix_mode: (made_by >> 8 == 3).then_some(external >> 16),
        local_header: usize::try_from(u32_at(zip, at + 42)?).ok()?,
    };
    Some((entry, at + 46 + name_len + extra_len + comment_len))
}

/// The uncompressed bytes of one entry, checked against its CRC-32.
pub fn read_entry(zip: &[u8], entry: &Entry) -> Result<Vec<u8>, String> {
    let at = entry.local_header;
    let corrupt = || format!("entry {} is corrupt", entry.name);
    if u32_at(zip, at) != Some(LOCAL) {
        return Err(corrupt());
    }
    let name_len = usize::from(u16_at(zip, at + 26).ok_or_else(corrupt)?);
    let extra_len = usize::from(u16_at(zip, at + 28).ok_or_else(corrupt)?);
    let start = at + 30 + name_len + extra_len;
    let size = usize::try_from(entry.compressed).map_err(|_| corrupt())?;
    let data = zip.get(start..start + size).ok_or_else(corrupt)?;
    let limit = usize::try_from(entry.uncompressed).map_err(|_| corrupt())?;
    let bytes = match entry.method {
        0 => data.to_vec(),
        8 => miniz_oxide::inflate::decompress_to_vec_with_limit(data, limit).map_err(|_| corrupt())?,
        m => return Err(format!("entry {} uses compression method {m} (Lambda reads stored and deflate)", entry.name)),
    };
    if bytes.len() != limit || crc32fast::hash(&bytes) != entry.crc {
        return Err(corrupt());
    }
    Ok(bytes)
}

/// The end of central directory record: the last signature within the record's 22 bytes plus a
/// comment of at most 65535 bytes from the end.
fn find_end(zip: &[u8]) -> Option<usize> {
    let last = zip.len().checked_sub(22)?;
    let first = last.saturating_sub(65_535);
    (first..=last).rev().find(|&at| u32_at(zip, at) == Some(END))
}

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at.checked_add(2)?)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_archive_reads_back_executable_and_identical() {
        let body: Vec<u8> = (0..100_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        let zip = single_executable("bootstrap", &body).unwrap();
        assert_eq!(zip, single_executable("bootstrap", &body).unwrap(), "deterministic bytes");
        let entries = entries(&zip).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].name, "bootstrap");
        assert_eq!(entries[0].unix_mode, Some(0o100_755));
        assert!(entries[0].executable());
        assert_eq!(entries[0].uncompressed, body.len() as u64);
        assert_eq!(read_entry(&zip, &entries[0]).unwrap(), body);
    }

    #[test]
    fn the_system_unzip_agrees() {
        // `unzip -Z` (Info-ZIP's zipinfo) reads the mode the way Lambda's extraction does.
        let Ok(out) = std::process::Command::new("unzip").arg("-v").output() else { return };
        if !out.status.success() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.zip");
        std::fs::write(&path, single_executable("bootstrap", b"#!/bin/sh\n").unwrap()).unwrap();
        let listing = std::process::Command::new("unzip").arg("-Z").arg(&path).output().unwrap();
        let text = String::from_utf8_lossy(&listing.stdout);
        assert!(text.contains("-rwxr-xr-x") && text.contains("bootstrap"), "{text}");
        let test = std::process::Command::new("unzip").arg("-tq").arg(&path).output().unwrap();
        assert!(test.status.success(), "{}", String::from_utf8_lossy(&test.stdout));
    }

    #[test]
    fn garbage_and_corruption_are_refused() {
        assert!(entries(b"not a zip at all, long enough to scan").unwrap_err().contains("not a zip"));
        let mut zip = single_executable("bootstrap", b"0123456789abcdef").unwrap();
        let e = entries(&zip).unwrap();
        zip[40] ^= 0xff; // inside the deflated data
        assert!(read_entry(&zip, &e[0]).is_err());
    }
}
