//! Hostile manifests: parsing `weir.toml` and `package.json` never panics,
//! and whatever parses can be written back and parsed again the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weir::package::Manifest;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(manifest) = Manifest::from_toml(text, Some("x.wasm")) {
        let written = manifest.to_toml().expect("a parsed manifest can be written");
        let again = Manifest::from_toml(&written, None).expect("a written manifest parses");
        assert_eq!(again.name, manifest.name);
        assert_eq!(again.component, manifest.component);
        assert_eq!(again.config, manifest.config);
    }
    let _ = Manifest::from_package_json(text);
});
