use serde::Deserialize;
use sluice_api::types::Object;
#[test]
fn scratch() {
    let mut bad = 0; let mut n = 0;
    for entry in walk("../../shared/corpus/argo-examples") {
        let text = std::fs::read_to_string(&entry).unwrap();
        if !entry.ends_with(".yaml") { continue; }
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let v: serde_json::Value = match serde_json::Value::deserialize(doc) { Ok(v) => v, Err(e) => { println!("{entry}: yaml {e}"); bad+=1; continue } };
            match Object::from_value(&v) {
                Ok(Some(o)) => { n+=1; let back = o.to_value().unwrap(); if back != v { bad+=1; println!("{entry}: DIFF\n{}\n{}", serde_json::to_string(&v).unwrap(), serde_json::to_string(&back).unwrap()); } }
                Ok(None) => {}
                Err(e) => { bad+=1; println!("{entry}: {e}"); }
            }
        }
    }
    println!("n={n} bad={bad}");
    assert_eq!(bad, 0);
}
fn walk(dir: &str) -> Vec<String> { let mut out = vec![]; for e in std::fs::read_dir(dir).unwrap() { let p = e.unwrap().path(); if p.is_dir() { out.extend(walk(p.to_str().unwrap())) } else { out.push(p.to_str().unwrap().to_string()) } } out }
