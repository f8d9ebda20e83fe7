// The ten desk checks of benches/desk, written natively for Node/Express: the yardstick
// benches/vs_express.sh runs lookout against. What a team would write by hand: HTTPS,
// `cluster` with one worker per core, the raw body checked against
// Veson-Webhook-Signature (HMAC-SHA256, constant time) before JSON.parse, the checks as
// plain loops, alerts with stable name-based GUIDs.
//
//   node server.js PORT CERT KEY DATA_DIR        (LOOKOUT_KEY_DESK: the HMAC key)
"use strict";

const cluster = require("node:cluster");
const crypto = require("node:crypto");
const fs = require("node:fs");
const https = require("node:https");
const os = require("node:os");
const path = require("node:path");

const [port, certFile, keyFile, dataDir] = process.argv.slice(2);
const secret = process.env.LOOKOUT_KEY_DESK;
if (!port || !certFile || !keyFile || !dataDir || !secret) {
  console.error("usage: LOOKOUT_KEY_DESK=... node server.js PORT CERT KEY DATA_DIR");
  process.exit(2);
}

if (cluster.isPrimary) {
  const workers = Number(process.env.WORKERS || os.availableParallelism());
  for (let i = 0; i < workers; i++) cluster.fork();
  cluster.on("exit", (w, code) => console.error(`worker ${w.process.pid} exited ${code}`));
  return;
}

const express = require("express");

const desk = JSON.parse(fs.readFileSync(path.join(dataDir, "desk.json"), "utf8"));
const counterparties = (() => {
  const [head, ...lines] = fs.readFileSync(path.join(dataDir, "counterparties.csv"), "utf8").trim().split("\n");
  const names = head.split(",");
  return lines.map((line) => {
    const cells = line.split(",");
    const row = {};
    names.forEach((n, i) => (row[n] = cells[i]));
    return row;
  });
})();

// Rhai's `/` on two integers is integer division; the checks keep its arithmetic.
const div = (a, b) => (Number.isInteger(a) && Number.isInteger(b) ? Math.trunc(a / b) : a / b);

function checks(e) {
  const out = [];
  const alert = (rule, type, message, key, fields) => out.push({ rule, type, message, key, fields });
  const calls = e.estimateItineraries || [];
  const cargoes = e.estimateCargoes || [];

  // tce_floor
  const tce = e.voyageResults.tce;
  if (tce < desk.tceFloor) {
    alert("tce_floor", "PermanentWarning", `TCE ${tce} is below the desk floor of ${desk.tceFloor}`, null, [
      { label: "TCE", value: `${tce}` },
      { label: "Floor", value: `${desk.tceFloor}` },
    ]);
  }

  // deadweight
  let onBoard = 0;
  let most = 0;
  for (const p of calls) {
    if (p.portFunction === "Load") onBoard += p.cargoHandled;
    if (p.portFunction === "Discharge") onBoard -= p.cargoHandled;
    if (onBoard > most) most = onBoard;
  }
  if (most > e.vesselDwt) {
    alert("deadweight", "Error", `Cargo on board reaches ${most} MT, over the deadweight of ${e.vesselDwt} MT`, null, [
      { label: "Most on board", value: `${most}` },
    ]);
  }

  // speed
  for (const p of calls) {
    if (p.speed > 0 && (p.speed < desk.minSpeed || p.speed > desk.maxSpeed)) {
      alert("speed", "PermanentWarning", `Speed ${p.speed} kn into ${p.portName} is outside ${desk.minSpeed}-${desk.maxSpeed} kn`, `${p.seq}`);
    }
  }

  // bunkers
  const margin = 1.0 + desk.bunkerMarginPct / 100.0;
  for (let i = 0; i < calls.length - 1; i++) {
    const here = calls[i];
    const next = calls[i + 1];
    for (const fuel of here.voyageEstimateBunkers) {
      for (const need of next.voyageEstimateBunkers) {
        if (need.fuelType === fuel.fuelType) {
          const burn = need.seaConsumption * next.seaDays;
          if (fuel.departureQty < burn * margin) {
            alert("bunkers", "Error", `${fuel.fuelType} leaving ${here.portName} (${fuel.departureQty} MT) does not cover ${burn} MT to ${next.portName} plus ${desk.bunkerMarginPct}%`, `${here.seq}-${fuel.fuelType}`);
          }
        }
      }
    }
  }

  // eca_fuel
  for (const p of calls) {
    if (p.isEca) {
      let ok = false;
      for (const fuel of p.voyageEstimateBunkers) {
        if (desk.ecaFuels.includes(fuel.fuelType) && fuel.arrivalQty > 0) ok = true;
      }
      if (!ok) alert("eca_fuel", "PermanentWarning", `${p.portName} is in an ECA but no low-sulphur fuel is on board`, `${p.seq}`);
    }
  }

  // port_costs
  for (const p of calls) {
    if (p.portFunction === "Load" || p.portFunction === "Discharge") {
      if (p.portExpenses === 0) {
        alert("port_costs", "PermanentWarning", `${p.portName} has no port expenses`, `${p.seq}`);
      } else {
        let total = 0;
        for (const item of p.portExpenseItems) total += item.amount;
        if (total !== p.portExpenses) {
          alert("port_costs", "PermanentWarning", `${p.portName}: expense items add up to ${total}, not ${p.portExpenses}`, `${p.seq}-items`);
        }
      }
    }
  }

  // port_days
  for (const c of cargoes) {
    for (const p of calls) {
      if (p.portName === c.loadPort && p.portFunction === "Load") {
        const needed = div(c.cargoQty, c.loadRate);
        if (p.portDays < needed) {
          alert("port_days", "PermanentWarning", `${p.portName}: ${p.portDays} port days, ${c.cargoName} needs ${needed} at ${c.loadRate} MT/day`, `${c.cargoID}-load`);
        }
      }
      if (p.portName === c.dischargePort && p.portFunction === "Discharge") {
        const needed = div(c.cargoQty, c.dischargeRate);
        if (p.portDays < needed) {
          alert("port_days", "PermanentWarning", `${p.portName}: ${p.portDays} port days, ${c.cargoName} needs ${needed} at ${c.dischargeRate} MT/day`, `${c.cargoID}-discharge`);
        }
      }
    }
  }

  // commission
  for (const c of cargoes) {
    const total = c.brokerCommissionPct + c.addressCommissionPct;
    if (total > desk.maxCommissionPct) {
      alert("commission", "PermanentWarning", `${c.cargoName}: commissions of ${total}% are over ${desk.maxCommissionPct}%`, c.cargoID);
    }
  }

  // counterparty
  for (const c of cargoes) {
    for (const row of counterparties) {
      if (row.name === c.charterer) {
        if (desk.lowRatings.includes(row.rating)) alert("counterparty", "PermanentWarning", `${c.charterer} is rated ${row.rating}`, `${c.cargoID}-rating`);
        if (row.sanctions !== "None") alert("counterparty", "Error", `${c.charterer}: sanctions ${row.sanctions}`, `${c.cargoID}-sanctions`);
      }
    }
  }

  // laycan
  for (const c of cargoes) {
    if (c.laycanTo < c.laycanFrom) {
      alert("laycan", "Error", `${c.cargoName}: the laycan ends (${c.laycanTo}) before it starts (${c.laycanFrom})`, `${c.cargoID}-order`);
    }
    if (!desk.laytimeTerms.includes(c.laytimeTerms)) {
      alert("laycan", "PermanentWarning", `${c.cargoName}: laytime terms ${c.laytimeTerms} are not the desk's`, `${c.cargoID}-terms`);
    }
    for (const p of calls) {
      if (p.portName === c.loadPort && p.portFunction === "Load" && p.arrivalDate.substring(0, 10) > c.laycanTo) {
        alert("laycan", "Error", `${c.cargoName}: arrives at ${p.portName} on ${p.arrivalDate}, after the laycan (${c.laycanTo})`, `${c.cargoID}-late`);
      }
    }
  }
  return out;
}

// A name-based GUID (UUIDv5-style: SHA-1 of rule set, rule, key, estimate identity).
function guid(...parts) {
  const h = crypto.createHash("sha1").update(JSON.stringify(parts)).digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

const app = express();
app.post("/hooks/desk", express.raw({ type: () => true, limit: "8mb" }), (req, res) => {
  const body = req.body;
  const given = Buffer.from(String(req.get("Veson-Webhook-Signature") || ""), "utf8");
  const want = Buffer.from(crypto.createHmac("sha256", secret).update(body).digest("hex"), "utf8");
  if (given.length !== want.length || !crypto.timingSafeEqual(given, want)) {
    return res.status(401).json({ error: "signature does not match" });
  }
  let estimate;
  try {
    estimate = JSON.parse(body.toString("utf8"));
  } catch (err) {
    return res.status(400).json({ error: `body is not JSON: ${err.message}` });
  }
  const ordinal = {};
  const alerts = checks(estimate).map((a) => {
    const key = a.key ?? `#${(ordinal[a.rule] = (ordinal[a.rule] ?? -1) + 1)}`;
    const alert = { message: a.message, alertType: a.type, guid: guid("desk", a.rule, key, estimate.estimateID || "") };
    if (a.fields) alert.displayFields = a.fields;
    return alert;
  });
  res.json(alerts);
});

const server = https.createServer({ cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) }, app);
server.keepAliveTimeout = 65_000;
server.listen(Number(port), "127.0.0.1");
