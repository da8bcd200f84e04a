//! The Lambda package `bootstrap --serverless` deploys: this binary zipped as `bootstrap`, or a
//! zip given with `--lambda-zip`. Everything Lambda would refuse (or run and fail) is found here,
//! before any request: not a Linux ELF, another instruction set than the function's, glibc symbol
//! versions newer than the runtime's, a missing executable bit, sizes over Lambda's limits. Pure
//! (bytes in, package or the list of violations out); `cmd::bootstrap` reads the files.

pub mod elf;
pub mod zip;

use sha2::{Digest, Sha256};

pub use elf::{Arch, GlibcVersion};

/// glibc of the `provided.al2023` runtime: AL2023's core toolchain is glibc 2.34 (Amazon Linux
/// 2023 User Guide, "Core toolchain packages glibc, gcc, binutils"); a binary needing a newer
/// GLIBC_ symbol version fails at start with "version `GLIBC_2.xx' not found".
pub const RUNTIME_GLIBC: &str = "2.34";

/// "Deployment package (.zip file archive) size: 250 MB (unzipped, including layers)" (Lambda
/// Developer Guide, "Lambda quotas"); Lambda counts in MiB: CreateFunction answers "Unzipped size
/// must be smaller than 262144000 bytes", and GetAccountSettings' CodeSizeUnzipped is 262144000.
/// The functions have no layers, so the package alone must stay under it.
pub const UNZIPPED_LIMIT: u64 = 262_144_000;

/// "50 MB (zipped, for direct upload)" (same page; CodeSizeZipped 52428800). Not a limit here:
/// the stack deploys the package from S3 ("Use Amazon S3 for larger files", API_AccountLimit), so
/// only the unzipped limit holds; kept for the report and the sandbox's direct-upload rule.
pub const DIRECT_UPLOAD_LIMIT: u64 = 52_428_800;

/// The entry a custom runtime runs (Lambda Developer Guide, "Building a custom runtime": the
/// runtime's entry point is an executable file named `bootstrap` at the package's root).
pub const ENTRY: &str = "bootstrap";

/// A checked package, ready to upload.
#[derive(Debug, Clone)]
pub struct Package {
    pub zip: Vec<u8>,
    /// Hex SHA-256 of the zip: the object key is `lambda/<sha256>.zip`.
    pub sha256: String,
    pub arch: Arch,
    pub glibc: Option<GlibcVersion>,
    pub unzipped: u64,
}

impl Package {
    pub fn key(&self) -> String {
        format!("lambda/{}.zip", self.sha256)
    }
}

/// The package for a Linux executable (this binary): checked, then zipped as `bootstrap`. `what`
/// names the input in each violation ("this binary (/path)").
pub fn from_executable(what: &str, bytes: &[u8], allowed: &[Arch]) -> Result<Package, Vec<String>> {
    let mut problems = Vec::new();
    let size = bytes.len() as u64;
    if size >= UNZIPPED_LIMIT {
        problems.push(over_limit(what, size));
    }
    let exe = check_executable(what, bytes, allowed, &mut problems);
    let (Some(exe), true) = (exe, problems.is_empty()) else { return Err(problems) };
    let zip = zip::single_executable(ENTRY, bytes).ok_or_else(|| vec![over_limit(what, size)])?;
    Ok(Package { sha256: hex::encode(Sha256::digest(&zip)), zip, arch: exe.arch, glibc: exe.glibc, unzipped: size })
}

/// The package for a given zip: its entries' sizes, its `bootstrap` entry (executable, a Linux
/// ELF of an allowed architecture, glibc floor) checked; the bytes uploaded as they are.
pub fn from_zip(what: &str, zip_bytes: Vec<u8>, allowed: &[Arch]) -> Result<Package, Vec<String>> {
    let entries = zip::entries(&zip_bytes).map_err(|e| vec![format!("{what}: {e}")])?;
    let unzipped: u64 = entries.iter().map(|e| e.uncompressed).sum();
    let mut problems = Vec::new();
    if unzipped >= UNZIPPED_LIMIT {
        problems.push(over_limit(what, unzipped));
    }
    let Some(entry) = entries.iter().find(|e| e.name == ENTRY) else {
        problems.push(format!(
            "{what}: no `{ENTRY}` entry at the archive's root (a custom runtime runs the executable named {ENTRY}; \
             scripts/release.sh's notebook-vend-<version>-lambda-<arch>.zip has it)"
        ));
        return Err(problems);
    };
    if !entry.executable() {
        problems.push(format!(
            "{what}: `{ENTRY}` has no executable bit in the archive (Lambda needs mode 755: `chmod 755 {ENTRY}` and zip \
             it on Linux or macOS)"
        ));
    }
    if !problems.is_empty() {
        // Over the limit: not inflated (it could be anything up to 4 GB).
        return Err(problems);
    }
    let bytes = zip::read_entry(&zip_bytes, entry).map_err(|e| vec![format!("{what}: {e}")])?;
    let exe = check_executable(&format!("{what}: `{ENTRY}`"), &bytes, allowed, &mut problems);
    match (exe, problems.is_empty()) {
        (Some(exe), true) => Ok(Package {
            sha256: hex::encode(Sha256::digest(&zip_bytes)),
            zip: zip_bytes,
            arch: exe.arch,
            glibc: exe.glibc,
            unzipped,
        }),
        _ => Err(problems),
    }
}

fn check_executable(what: &str, bytes: &[u8], allowed: &[Arch], problems: &mut Vec<String>) -> Option<elf::Executable> {
    let exe = match elf::read(bytes) {
        Ok(exe) => exe,
        Err(e) => {
            problems.push(format!(
                "{what}: {e}; build a Lambda package (README, \"Serverless mode\": scripts/release.sh's lambda zip) \
                 and pass it with --lambda-zip"
            ));
            return None;
        }
    };
    if !allowed.contains(&exe.arch) {
        let names: Vec<&str> = allowed.iter().map(|a| a.lambda_name()).collect();
        problems.push(format!(
            "{what}: built for {}, but the serverless template's Architecture allows only {}",
            exe.arch.lambda_name(),
            names.join(", ")
        ));
    }
    let runtime = GlibcVersion::parse(RUNTIME_GLIBC).unwrap_or(GlibcVersion(vec![2, 34]));
    if let Some(v) = exe.glibc.as_ref().filter(|v| **v > runtime) {
        problems.push(format!(
            "{what}: needs GLIBC_{v}, but Lambda's provided.al2023 runtime has glibc {RUNTIME_GLIBC} (link against \
             glibc <= {RUNTIME_GLIBC}: `cargo zigbuild --target <arch>-unknown-linux-gnu.{RUNTIME_GLIBC}`, as \
             scripts/release.sh does)"
        ));
    }
    Some(exe)
}

/// The one line for a package over Lambda's unzipped limit.
pub fn over_limit(what: &str, size: u64) -> String {
    format!(
        "{what}: {} unzipped, Lambda allows less than {UNZIPPED_LIMIT} bytes (250 MB, Lambda quotas); a debug build \
         carries its debug info: use a release build (scripts/release.sh) or `objcopy --strip-debug`",
        crate::text::human_bytes(size)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal x86_64 Linux executable header (no sections: no glibc needs).
    fn x86_64_header() -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2; // 64-bit
        h[5] = 1; // little-endian
        h[16] = 2; // ET_EXEC
        h[18] = 62; // EM_X86_64
        h
    }

    #[test]
    fn wrong_architecture_and_not_executable_are_each_one_line() {
        let exe = from_executable("x", &x86_64_header(), &[Arch::X86_64]).unwrap();
        assert_eq!((exe.arch, exe.glibc, exe.unzipped), (Arch::X86_64, None, 64));
        let err = from_executable("x", &x86_64_header(), &[Arch::Arm64]).unwrap_err();
        assert_eq!(err.len(), 1, "{err:?}");
        assert!(err[0].contains("built for x86_64") && err[0].contains("only arm64"), "{err:?}");
        let mut plain = zip::single_executable(ENTRY, &x86_64_header()).unwrap();
        // Clear the mode bits in the central directory's external attributes.
        let at = plain.len() - 22 - (46 + ENTRY.len()) + 38;
        plain[at..at + 4].copy_from_slice(&(0o100_644u32 << 16).to_le_bytes());
        let err = from_zip("z.zip", plain, &[Arch::X86_64]).unwrap_err();
        assert_eq!(err.len(), 1, "{err:?}");
        assert!(err[0].contains("no executable bit"), "{err:?}");
    }

    #[test]
    fn a_zip_without_bootstrap_or_not_elf_is_refused() {
        let other = zip::single_executable("handler", b"x").unwrap();
        assert!(from_zip("z.zip", other, &[Arch::X86_64]).unwrap_err()[0].contains("no `bootstrap` entry"));
        let script = zip::single_executable(ENTRY, b"#!/bin/sh\necho\n").unwrap();
        assert!(from_zip("z.zip", script, &[Arch::X86_64]).unwrap_err()[0].contains("not an ELF"));
    }

    #[test]
    fn the_key_is_the_zip_digest() {
        let p = Package {
            zip: b"abc".to_vec(),
            sha256: hex::encode(Sha256::digest(b"abc")),
            arch: Arch::X86_64,
            glibc: None,
            unzipped: 3,
        };
        assert_eq!(p.key(), "lambda/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad.zip");
    }
}
