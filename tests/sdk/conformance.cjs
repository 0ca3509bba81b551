// Drives `pbxwatch sim cloud` with the official eWeLink SDK (npm ewelink-api-next) and prints one JSON
// object with what every call returned. Written for this test; usage:
//   node conformance.cjs <sdk node_modules dir> <sim url> <scenario json>
"use strict";

const path = require("path");
const [sdkModules, simUrl, scenarioJson] = process.argv.slice(2);
const eWeLink = require(path.join(sdkModules, "ewelink-api-next")).default;
const scenario = JSON.parse(scenarioJson);
const REAL_LOGIN_PAGE = "https://c2ccdn.coolkit.cc/oauth/index.html";

function pointAtSimulator(client) {
  // The SDK derives https://<region>-apia.coolkit.cc from the region; send it to the simulator instead.
  client.setUrl = () => { client.request.defaults.baseURL = simUrl; };
  client.setUrl();
}

function brief(res) {
  return { status: res.status, error: res.error, msg: res.msg, data: res.data };
}

async function login(client, out) {
  const url = client.oauth.createLoginUrl({ redirectUrl: scenario.redirectUrl, state: "sdk-state-1" });
  out.loginUrlRaw = url.includes("authorization=") && !url.includes("%");
  const page = await fetch(url.replace(REAL_LOGIN_PAGE, `${simUrl}/oauth/index.html`), { redirect: "manual" });
  out.loginStatus = page.status;
  const back = new URL(page.headers.get("location") || "http://invalid/");
  out.callback = { state: back.searchParams.get("state"), region: back.searchParams.get("region") };
  const token = await client.oauth.getToken({
    region: back.searchParams.get("region"), redirectUrl: scenario.redirectUrl, code: back.searchParams.get("code"),
  });
  out.token = { error: token.error, keys: Object.keys(token.data || {}).sort() };
  client.at = token.data.accessToken;
  client.rt = token.data.refreshToken;
  const refreshed = await client.user.refreshToken({ rt: client.rt });
  out.refresh = { error: refreshed.error, keys: Object.keys(refreshed.data || {}).sort(),
    changed: refreshed.data && refreshed.data.at !== token.data.accessToken };
}

async function devices(client, out) {
  const family = await client.home.getFamily({});
  out.family = { error: family.error, ids: (family.data.familyList || []).map((h) => h.id) };
  out.things = {};
  for (const id of out.family.ids) {
    const all = await client.device.getAllThingsAllPages({ familyId: id });
    out.things[id] = { error: all.error, ids: all.data.thingList.map((t) => t.itemData.deviceid || t.itemData.id),
      types: all.data.thingList.map((t) => t.itemType) };
  }
  const specific = await client.device.getThings({ thingList: [
    { itemType: 1, id: scenario.own }, { itemType: 2, id: scenario.shared }, { itemType: 1, id: scenario.shared }] });
  out.specific = { error: specific.error,
    found: specific.data.thingList.map((t) => [t.itemType, t.itemData.deviceid, t.itemData.online]) };
}

async function control(client, out) {
  const set = async (id, params) => (await client.device.setThingStatus({ type: 1, id, params })).error;
  const get = async (id, params) => brief(await client.device.getThingStatus({ type: 1, id, params }));
  out.ownOff = await set(scenario.own, { switch: "off" });
  out.ownStatus = (await get(scenario.own, "switch")).data.params;
  out.sharedOff = await set(scenario.shared, { switch: "off" });
  out.sharedOn = await set(scenario.shared, { switch: "on" });
  out.ownOn = await set(scenario.own, { switch: "on" });
  const four = [0, 1, 2, 3].map((outlet) => ({ switch: outlet === 1 ? "off" : "on", outlet }));
  out.dualFour = await set(scenario.dual, { switches: four });
  out.dualTwo = await set(scenario.dual, { switches: four.slice(0, 2) });
  out.dualStatus = (await get(scenario.dual, "switches")).data.params;
  out.settings = await set(scenario.own, { startup: "stay", pulse: "on", pulseWidth: 2000 });
  out.settingsStatus = (await get(scenario.own, "startup|pulse|pulseWidth")).data.params;
  out.offline = await set(scenario.offline, { switch: "off" });
}

async function main() {
  const client = new eWeLink.WebAPI({ appId: scenario.appId, appSecret: scenario.appSecret, region: "eu" });
  pointAtSimulator(client);
  const out = {};
  await login(client, out);
  await devices(client, out);
  await control(client, out);
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((err) => {
  process.stderr.write(`SDK run failed: ${err && err.stack ? err.stack : err}\n`);
  process.exit(2);
});
