//! What Lambda needs to know about an executable before it is deployed: is it a 64-bit
//! little-endian Linux ELF, for which machine, and which glibc symbol versions it needs. Read from
//! the ELF header and the `.gnu.version_r` section (SHT_GNU_verneed: the versions each shared
//! library must provide, System V gABI / LSB "Symbol Versioning"), the same thing `readelf -V` and
//! `objdump -T` print. Pure: bytes in, facts out.

use std::fmt;

/// e_machine values (System V gABI, "ELF Header").
const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;
/// sh_type of the version-needs section (LSB Core, "Symbol Versioning").
const SHT_GNU_VERNEED: u32 = 0x6fff_fffe;
/// e_ident[EI_OSABI]: SYSV (what Linux toolchains write) or GNU/Linux.
const OSABI_LINUX: [u8; 2] = [0, 3];

/// Lambda's two instruction sets, named as the function's `Architectures` property names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Arm64,
}

impl Arch {
    /// The value of AWS::Lambda::Function `Architectures` (CloudFormation resource schema).
    pub fn lambda_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }
}

/// A glibc symbol version such as GLIBC_2.34, compared numerically (2.4 < 2.17 < 2.34).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GlibcVersion(pub Vec<u32>);

impl GlibcVersion {
    pub fn parse(text: &str) -> Option<GlibcVersion> {
        let parts: Option<Vec<u32>> = text.split('.').map(|p| p.parse().ok()).collect();
        parts.filter(|p| !p.is_empty()).map(GlibcVersion)
    }
}

impl fmt::Display for GlibcVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(u32::to_string).collect();
        write!(f, "{}", parts.join("."))
    }
}

/// What the checks need from one executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executable {
    pub arch: Arch,
    /// The highest GLIBC_x.y version any needed symbol has; None for a binary that needs no glibc
    /// symbol version (static, musl).
    pub glibc: Option<GlibcVersion>,
}

/// Read the header and version needs; Err says in a few words why it is not a Linux executable
/// Lambda could run.
pub fn read(bytes: &[u8]) -> Result<Executable, String> {
    if bytes.get(..4) != Some(b"\x7fELF".as_slice()) {
        return Err("not an ELF executable (a Lambda custom runtime runs a Linux executable)".into());
    }
    let header = bytes.get(..64).ok_or("a truncated ELF header")?;
    if header[4] != 2 || header[5] != 1 {
        return Err("not a 64-bit little-endian ELF (Lambda runs x86_64 and arm64 only)".into());
    }
    if !OSABI_LINUX.contains(&header[7]) {
        return Err(format!("an ELF for another system (OS ABI {}), not Linux", header[7]));
    }
    let arch = match u16_at(header, 18) {
        Some(EM_X86_64) => Arch::X86_64,
        Some(EM_AARCH64) => Arch::Arm64,
        other => {
            return Err(format!("an ELF for machine {} (Lambda runs x86_64 and aarch64 only)", other.unwrap_or(0)))
        }
    };
    if !matches!(u16_at(header, 16), Some(2 | 3)) {
        return Err("an ELF that is not an executable (neither ET_EXEC nor ET_DYN)".into());
    }
    let glibc = glibc_floor(bytes).ok_or("an ELF whose section headers or version needs cannot be read")?;
    Ok(Executable { arch, glibc })
}

/// One section header's fields this module uses.
struct Section {
    kind: u32,
    offset: usize,
    size: usize,
    link: u32,
    info: u32,
}

fn sections(bytes: &[u8]) -> Option<Vec<Section>> {
    let shoff = usize::try_from(u64_at(bytes, 0x28)?).ok()?;
    let entsize = usize::from(u16_at(bytes, 0x3a)?);
    let count = usize::from(u16_at(bytes, 0x3c)?);
    if count == 0 {
        return Some(Vec::new());
    }
    if entsize < 64 {
        return None;
    }
    (0..count)
        .map(|i| {
            let at = shoff.checked_add(i.checked_mul(entsize)?)?;
            Some(Section {
                kind: u32_at(bytes, at + 4)?,
                offset: usize::try_from(u64_at(bytes, at + 24)?).ok()?,
                size: usize::try_from(u64_at(bytes, at + 32)?).ok()?,
                link: u32_at(bytes, at + 40)?,
                info: u32_at(bytes, at + 44)?,
            })
        })
        .collect()
}

/// The highest GLIBC_ version named in the version-needs section (Some(None) when there is none).
fn glibc_floor(bytes: &[u8]) -> Option<Option<GlibcVersion>> {
    let sections = sections(bytes)?;
    let mut floor: Option<GlibcVersion> = None;
    for needs in sections.iter().filter(|s| s.kind == SHT_GNU_VERNEED) {
        let strings = sections.get(usize::try_from(needs.link).ok()?)?;
        let strtab = bytes.get(strings.offset..strings.offset.checked_add(strings.size)?)?;
        let table = bytes.get(needs.offset..needs.offset.checked_add(needs.size)?)?;
        for name in version_names(table, needs.info)? {
            let text = c_string(strtab, name)?;
            let version = text.strip_prefix("GLIBC_").and_then(GlibcVersion::parse);
            if let Some(v) = version {
                floor = floor.max(Some(v));
            }
        }
    }
    Some(floor)
}

/// The string-table offsets of every Vernaux name: `count` Elf64_Verneed entries (vn_cnt at 2,
/// vn_aux at 8, vn_next at 12), each with a chain of Elf64_Vernaux (vna_name at 8, vna_next at 12).
fn version_names(table: &[u8], count: u32) -> Option<Vec<u32>> {
    let mut names = Vec::new();
    let mut need = 0usize;
    for _ in 0..count {
        let aux_count = u16_at(table, need + 2)?;
        let mut aux = need.checked_add(usize::try_from(u32_at(table, need + 8)?).ok()?)?;
        for _ in 0..aux_count {
            names.push(u32_at(table, aux + 8)?);
            aux = aux.checked_add(usize::try_from(u32_at(table, aux + 12)?).ok()?)?;
        }
        let next = usize::try_from(u32_at(table, need + 12)?).ok()?;
        if next == 0 {
            break;
        }
        need = need.checked_add(next)?;
    }
    Some(names)
}

fn c_string(table: &[u8], at: u32) -> Option<&str> {
    let rest = table.get(usize::try_from(at).ok()?..)?;
    let end = rest.iter().position(|b| *b == 0)?;
    std::str::from_utf8(&rest[..end]).ok()
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at.checked_add(2)?)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at.checked_add(8)?)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        let v = |s| GlibcVersion::parse(s).unwrap();
        assert!(v("2.4") < v("2.17"));
        assert!(v("2.34") < v("2.35"));
        assert!(v("2.34") > v("2.3.4"));
        assert_eq!(v("2.34").to_string(), "2.34");
        assert_eq!(GlibcVersion::parse("2.x"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_test_binary_itself_is_read() {
        // Whatever this machine is, the test executable is a real ELF with version needs.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let exe = read(&me).unwrap();
        #[cfg(target_arch = "x86_64")]
        assert_eq!(exe.arch, Arch::X86_64);
        #[cfg(target_arch = "aarch64")]
        assert_eq!(exe.arch, Arch::Arm64);
        assert!(exe.glibc.is_some(), "a glibc build names GLIBC_ versions");
    }

    #[test]
    fn not_elf_and_wrong_machine_are_refused() {
        assert!(read(b"#!/bin/sh\necho hi\n").unwrap_err().contains("not an ELF"));
        let mut header = vec![0u8; 64];
        header[..4].copy_from_slice(b"\x7fELF");
        header[4] = 2;
        header[5] = 1;
        header[16] = 2;
        header[18] = 40; // EM_ARM
        assert!(read(&header).unwrap_err().contains("machine 40"));
        header[4] = 1;
        assert!(read(&header).unwrap_err().contains("64-bit"));
    }
}
