//! `lookout init <dir>`: a new rule set with one rule, two tests and a sample estimate,
//! ready for `lookout test`.

use std::path::Path;

use anyhow::{anyhow, Context};

use crate::rules::ruleset::valid_name;

const RULE_FILE: &str = "tce_floor.rhai";

const RULE: &str = r#"// TCE below the desk's floor.
// The time-charter equivalent (voyageResults.tce, USD/day) is what the voyage earns per
// day. Below the floor, the fixture needs a better freight rate or a manager's approval.
//
// Try it:   lookout run {name} {dir}/tests/estimates/sample-estimate.json --rules {rules}
// Test it:  lookout test {name} --rules {rules}

let floor = 12000;                               // USD/day
let tce = get(estimate, "voyageResults.tce");    // () when IMOS has not computed it yet

if is_number(tce) && tce < floor {
    warning(`TCE of ${format_number(tce, 0)} USD/day is below the desk floor of ${format_number(floor, 0)} USD/day; improve the freight rate or get approval`)
        .field("TCE (USD/day)", format_number(tce, 2))
        .field("Shortfall (USD/day)", format_number(floor - tce, 2))
        .key("tce-floor");
}
"#;

const SETTINGS: &str = r#"# Rule set `{name}`: the Estimator POSTs to https://<host>:8443/hooks/{name}
description = "{name}: describe what this desk checks"

# Keys come from the environment (or a file), never from this file. Until you set one,
# the rule set answers unsigned calls and lookout warns about it when it starts.
# api_keys = ["env:LOOKOUT_KEY_{upper}"]

# Where the estimate's identity is, for stable alert GUIDs (first found wins).
identity = ["/estimateID"]

# The Estimator waits 10 s; rules stop 1.5 s before that.
budget_ms = 10000
margin_ms = 1500
"#;

const TEST_FIRES: &str = r#"{
  "description": "A TCE under the floor raises one warning with the shortfall",
  "estimate": "estimates/sample-estimate.json",
  "set": { "/voyageResults/tce": 9500 },
  "rules": ["tce_floor"],
  "expect": {
    "count": 1,
    "contains": [
      {
        "rule": "tce_floor",
        "alertType": "PermanentWarning",
        "message_contains": "below the desk floor",
        "field": { "label": "Shortfall (USD/day)", "value": "2,500.00" }
      }
    ]
  }
}
"#;

const TEST_QUIET: &str = r#"{
  "description": "A TCE above the floor raises nothing",
  "estimate": "estimates/sample-estimate.json",
  "set": { "/voyageResults/tce": 15250 },
  "rules": ["tce_floor"],
  "expect": {
    "absent": [ { "rule": "tce_floor" } ],
    "count": 0
  }
}
"#;

const SAMPLE: &str = include_str!("../../rules/samples/drybulk-single-cargo.json");

pub fn run(dir: &Path) -> anyhow::Result<u8> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow!("`{}` does not end in a folder name", dir.display()))?;
    if !valid_name(name) {
        return Err(anyhow!(
            "`{name}` cannot be a rule set name (it is the URL /hooks/{name}); use letters, digits, `-` and `_`, at most 64"
        ));
    }
    if dir.exists()
        && std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(anyhow!(
            "{} already exists and is not empty; choose a new folder (nothing was written)",
            dir.display()
        ));
    }
    let rules = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let fill = |text: &str| {
        text.replace("{name}", name)
            .replace("{dir}", &dir.display().to_string())
            .replace("{rules}", &rules.display().to_string())
            .replace("{upper}", &name.to_ascii_uppercase().replace('-', "_"))
    };
    let files = [
        ("ruleset.toml", fill(SETTINGS)),
        (RULE_FILE, fill(RULE)),
        ("tests/tce-below-floor-warns.json", TEST_FIRES.to_string()),
        (
            "tests/tce-above-floor-is-quiet.json",
            TEST_QUIET.to_string(),
        ),
        ("tests/estimates/sample-estimate.json", SAMPLE.to_string()),
    ];
    for (path, text) in &files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!("created rule set `{name}` in {}:", dir.display());
    for (path, _) in &files {
        println!("  {}", dir.join(path).display());
    }
    println!();
    println!("next:");
    println!("  lookout test {name} --rules {}", rules.display());
    println!(
        "  lookout run {name} {} --rules {}",
        dir.join("tests/estimates/sample-estimate.json").display(),
        rules.display()
    );
    println!(
        "  then edit {} and run the tests again",
        dir.join(RULE_FILE).display()
    );
    Ok(super::OK)
}
