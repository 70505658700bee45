use ao_local::LocalAo;
use proptest::prelude::*;

fn hash_in_lua(ao: &LocalAo, pid: &ao_transport::ProcessId, data: &[u8]) -> String {
    let mut hex = String::new();
    for b in data { hex.push_str(&format!("{b:02x}")); }
    let src = format!("return AoEnv.blake3_hex((string.gsub('{hex}', '..', function(h) return string.char(tonumber(h, 16)) end)))");
    let r = ao.eval(pid, &src).unwrap();
    assert!(r.error.is_none(), "{:?}", r.error);
    r.output
}

#[test]
fn lens() {
    let ao = LocalAo::new();
    let pid = ao.spawn_aos(ao_env::INFO_LUA).unwrap();
    for n in [0usize, 1, 63, 64, 65, 1023, 1024, 1025, 2048, 2049, 3072, 4096, 5000, 9000] {
        let data: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
        assert_eq!(hash_in_lua(&ao, &pid, &data), blake3::hash(&data).to_hex().to_string(), "len {n}");
    }
}
