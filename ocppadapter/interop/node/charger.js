'use strict';
// A scripted charger on npm ocpp-rpc in strict mode, for the interop tests of
// the smartcharge OCPP adapter (ocppadapter/interop). Strict mode validates
// every CALL and CALLRESULT in both directions against the OCA schemas that
// ocpp-rpc ships: a message from the server that breaks them fails the run.
//
//   node charger.js --url ws://127.0.0.1:PORT/ocpp/ --identity CP1 \
//       --protocol ocpp1.6|ocpp2.0.1 [--frames FILE.jsonl]
//
// Protocol with the Go test, one JSON object per line:
//   stdout {"type":"ready", ...}   the scripted conversation is done; the test
//                                  now sends commands (SetChargingProfile ...)
//   stdin  "finish"                stop the transaction, close, report
//   stdout {"type":"result", ...}  the outcome (ok, errors, the server's calls)
// Logs go to stderr. --frames appends every WebSocket message, both
// directions, as {"dir":"in"|"out","data":"<raw frame>"}.

const fs = require('fs');
const readline = require('readline');
const { RPCClient, createRPCError } = require('ocpp-rpc');

function parseArgs(argv) {
    const out = {};
    for (let i = 0; i < argv.length; i += 2) {
        if (!argv[i].startsWith('--') || i + 1 >= argv.length) {
            throw new Error(`bad argument ${argv[i]}`);
        }
        out[argv[i].slice(2)] = argv[i + 1];
    }
    for (const k of ['url', 'identity', 'protocol']) {
        if (!out[k]) throw new Error(`--${k} is required`);
    }
    if (!['ocpp1.6', 'ocpp2.0.1'].includes(out.protocol)) {
        throw new Error(`--protocol must be ocpp1.6 or ocpp2.0.1`);
    }
    return out;
}

const args = parseArgs(process.argv.slice(2));
const v16 = args.protocol === 'ocpp1.6';
const errors = [];
const strictFailures = [];
const badMessages = [];
const serverCalls = [];
const log = (...a) => console.error(`[${args.identity}]`, ...a);
const now = () => new Date().toISOString();
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

// What the charger reports when the server reads its smart-charging
// capabilities. The Go test checks ChargerCapabilitiesRead against these.
const config16 = {
    ChargeProfileMaxStackLevel: '5',
    ChargingScheduleMaxPeriods: '10',
    ChargingScheduleAllowedChargingRateUnit: 'Current',
    MaxChargingProfilesInstalled: '4',
    ConnectorPhaseRotation: '0.TRS,1.RST',
    ConnectorSwitch3to1PhaseSupported: 'false',
};
const variables201 = {
    'SmartChargingCtrlr.ProfileStackLevel': '5',
    'SmartChargingCtrlr.PeriodsPerSchedule': '10',
    'SmartChargingCtrlr.RateUnit': 'A',
    'SmartChargingCtrlr.Entries': '4',
    'SmartChargingCtrlr.Phases3to1': 'false',
    'ChargingStation.PhaseRotation': 'TRS',
};

const client = new RPCClient({
    endpoint: args.url.replace(/\/$/, ''),
    identity: args.identity,
    protocols: [args.protocol],
    strictMode: true,
    reconnect: false,
    callTimeoutMs: 10000,
});

let frames = null;
if (args.frames) frames = fs.openSync(args.frames, 'a');
client.on('message', ({ message, outbound }) => {
    if (frames !== null) {
        fs.writeSync(frames, JSON.stringify({ dir: outbound ? 'out' : 'in', data: message.toString() }) + '\n');
    }
});
client.on('strictValidationFailure', (ev) => {
    // outbound=false: the server sent a CALL or CALLRESULT breaking the schema.
    strictFailures.push({
        method: ev.method, outbound: ev.outbound, isCall: ev.isCall,
        error: String(ev.error && ev.error.message), params: ev.params, result: ev.result,
    });
    log('strict validation failure', ev.method, ev.error && ev.error.message);
});
client.on('badMessage', ({ buffer, error }) => {
    badMessages.push({ frame: buffer.toString(), error: String(error && error.message) });
    log('bad message', buffer.toString(), error && error.message);
});

// Waiters for calls the server sends, by action.
const waiters = [];
function waitForServerCall(action, count, timeoutMs) {
    return new Promise((resolve, reject) => {
        const check = () => serverCalls.filter((c) => c.action === action).length >= count;
        if (check()) return resolve();
        const w = { check, resolve };
        waiters.push(w);
        setTimeout(() => {
            const i = waiters.indexOf(w);
            if (i >= 0) {
                waiters.splice(i, 1);
                reject(new Error(`server did not send ${count} x ${action} within ${timeoutMs} ms`));
            }
        }, timeoutMs);
    });
}
function recordServerCall(action, params) {
    serverCalls.push({ action, payload: params });
    for (const w of waiters.slice()) {
        if (w.check()) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve();
        }
    }
}

let transactionId = null; // 1.6: the integer the server assigned
const txId201 = `TX-${args.identity}-1`;

// Meter values with current per phase, power, energy and SoC.
function meterValue16(energyWh, amps) {
    return {
        timestamp: now(),
        sampledValue: [
            { value: String(amps[0]), context: 'Sample.Periodic', measurand: 'Current.Import', phase: 'L1', unit: 'A' },
            { value: String(amps[1]), context: 'Sample.Periodic', measurand: 'Current.Import', phase: 'L2', unit: 'A' },
            { value: String(amps[2]), context: 'Sample.Periodic', measurand: 'Current.Import', phase: 'L3', unit: 'A' },
            { value: '11.04', context: 'Sample.Periodic', measurand: 'Power.Active.Import', unit: 'kW' },
            { value: String(energyWh / 1000), context: 'Sample.Periodic', measurand: 'Energy.Active.Import.Register', unit: 'kWh' },
            { value: '42', context: 'Sample.Periodic', measurand: 'SoC', location: 'EV', unit: 'Percent' },
        ],
    };
}
function meterValue201(energyWh, amps) {
    return {
        timestamp: now(),
        sampledValue: [
            { value: amps[0], context: 'Sample.Periodic', measurand: 'Current.Import', phase: 'L1', unitOfMeasure: { unit: 'A' } },
            { value: amps[1], context: 'Sample.Periodic', measurand: 'Current.Import', phase: 'L2', unitOfMeasure: { unit: 'A' } },
            { value: amps[2], context: 'Sample.Periodic', measurand: 'Current.Import', phase: 'L3', unitOfMeasure: { unit: 'A' } },
            { value: 11.04, context: 'Sample.Periodic', measurand: 'Power.Active.Import', unitOfMeasure: { unit: 'kW' } },
            { value: energyWh, context: 'Sample.Periodic', measurand: 'Energy.Active.Import.Register', unitOfMeasure: { unit: 'Wh' } },
            { value: 42, context: 'Sample.Periodic', measurand: 'SoC', location: 'EV', unitOfMeasure: { unit: 'Percent' } },
        ],
    };
}

// Messages a TriggerMessage asks for; sent after the answer.
async function sendTriggered(requested, evse) {
    const connector = evse || 1;
    switch (requested) {
        case 'StatusNotification':
            if (v16) {
                await client.call('StatusNotification', { connectorId: connector, errorCode: 'NoError', status: 'Charging', timestamp: now() });
            } else {
                await client.call('StatusNotification', { timestamp: now(), connectorStatus: 'Occupied', evseId: connector, connectorId: 1 });
            }
            break;
        case 'MeterValues':
            if (v16) {
                await client.call('MeterValues', { connectorId: connector, transactionId, meterValue: [meterValue16(2000, [10.1, 10.2, 10.3])] });
            } else {
                await client.call('MeterValues', { evseId: connector, meterValue: [meterValue201(2000, [10.1, 10.2, 10.3])] });
            }
            break;
        case 'Heartbeat':
            await client.call('Heartbeat', {});
            break;
        case 'BootNotification':
            break; // not used by the tests: a boot would restart the capability read
        default:
            throw new Error(`unexpected TriggerMessage ${requested}`);
    }
}

function handle(action, fn) {
    client.handle(action, async ({ params }) => {
        recordServerCall(action, params);
        return fn(params);
    });
}

if (v16) {
    handle('GetConfiguration', (p) => {
        const keys = p.key || Object.keys(config16);
        const known = keys.filter((k) => k in config16).map((k) => ({ key: k, readonly: true, value: config16[k] }));
        const unknown = keys.filter((k) => !(k in config16));
        const res = { configurationKey: known };
        if (unknown.length > 0) res.unknownKey = unknown;
        return res;
    });
    handle('ChangeConfiguration', () => ({ status: 'Accepted' }));
    handle('GetCompositeSchedule', (p) => ({
        status: 'Accepted',
        connectorId: p.connectorId,
        scheduleStart: now(),
        chargingSchedule: {
            duration: p.duration,
            chargingRateUnit: p.chargingRateUnit || 'A',
            chargingSchedulePeriod: [{ startPeriod: 0, limit: 16 }, { startPeriod: 1800, limit: 10.5, numberPhases: 1 }],
        },
    }));
} else {
    handle('GetVariables', (p) => ({
        getVariableResult: p.getVariableData.map((d) => {
            const key = `${d.component.name}.${d.variable.name}`;
            const r = { component: d.component, variable: d.variable };
            if (d.attributeType) r.attributeType = d.attributeType;
            if (key in variables201) {
                r.attributeStatus = 'Accepted';
                r.attributeValue = variables201[key];
            } else {
                r.attributeStatus = 'UnknownVariable';
            }
            return r;
        }),
    }));
    handle('SetVariables', (p) => ({
        setVariableResult: p.setVariableData.map((d) => ({ attributeStatus: 'Accepted', component: d.component, variable: d.variable })),
    }));
    handle('GetCompositeSchedule', (p) => ({
        status: 'Accepted',
        schedule: {
            evseId: p.evseId,
            duration: p.duration,
            scheduleStart: now(),
            chargingRateUnit: p.chargingRateUnit || 'A',
            chargingSchedulePeriod: [{ startPeriod: 0, limit: 16 }, { startPeriod: 1800, limit: 10.5, numberPhases: 1 }],
        },
    }));
}
handle('SetChargingProfile', () => ({ status: 'Accepted' }));
handle('ClearChargingProfile', () => ({ status: 'Accepted' }));
const triggered = [];
client.handle('TriggerMessage', async ({ params }) => {
    recordServerCall('TriggerMessage', params);
    const evse = v16 ? params.connectorId : params.evse && params.evse.id;
    // Send the requested message once the answer is out (F06: after the
    // TriggerMessage response).
    // Tracked, so that "finish" waits for it rather than closing first.
    triggered.push(new Promise((resolve) => setTimeout(resolve, 20))
        .then(() => sendTriggered(params.requestedMessage, evse))
        .catch((e) => errors.push(`triggered ${params.requestedMessage}: ${e.message}`)));
    return { status: 'Accepted' };
});
client.handle(({ method, params }) => {
    recordServerCall(method, params);
    throw createRPCError('NotImplemented', `test charger does not handle ${method}`);
});

async function expect(what, promise, check) {
    try {
        const res = await promise;
        if (check) {
            const problem = check(res);
            if (problem) errors.push(`${what}: ${problem}: ${JSON.stringify(res)}`);
        }
        return res;
    } catch (e) {
        errors.push(`${what}: ${e.rpcErrorCode || ''} ${e.message}`);
        return undefined;
    }
}

const isDate = (s) => typeof s === 'string' && !Number.isNaN(Date.parse(s));

async function conversation16() {
    await expect('BootNotification', client.call('BootNotification', {
        chargePointVendor: 'InteropVendor', chargePointModel: 'RPC-16', chargePointSerialNumber: 'SN-16',
        firmwareVersion: '2.2.1',
    }), (r) => (r.status !== 'Accepted' || !(r.interval > 0) || !isDate(r.currentTime) ? 'not accepted' : ''));
    // The server reads capabilities and sets sampling after the boot.
    await expect('capability read', Promise.all([
        waitForServerCall('GetConfiguration', 1, 5000),
        waitForServerCall('ChangeConfiguration', 2, 5000),
    ]));
    await expect('Heartbeat', client.call('Heartbeat', {}), (r) => (isDate(r.currentTime) ? '' : 'no currentTime'));
    await expect('StatusNotification 0', client.call('StatusNotification', { connectorId: 0, errorCode: 'NoError', status: 'Available', timestamp: now() }));
    await expect('StatusNotification 1', client.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Preparing', timestamp: now() }));
    await expect('Authorize', client.call('Authorize', { idTag: 'TAG16' }), (r) => (r.idTagInfo.status !== 'Accepted' ? 'not accepted' : ''));
    const start = await expect('StartTransaction', client.call('StartTransaction', {
        connectorId: 1, idTag: 'TAG16', meterStart: 1000, timestamp: now(),
    }), (r) => (r.idTagInfo.status !== 'Accepted' || !Number.isInteger(r.transactionId) ? 'not accepted' : ''));
    transactionId = start ? start.transactionId : 0;
    await expect('StatusNotification charging', client.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Charging', timestamp: now() }));
    await expect('MeterValues', client.call('MeterValues', {
        connectorId: 1, transactionId, meterValue: [meterValue16(1500, [16.1, 15.9, 16.0])],
    }));
    await expect('DataTransfer', client.call('DataTransfer', { vendorId: 'org.smartcharge.interop', messageId: 'Ping', data: 'hello' }),
        (r) => (['Accepted', 'Rejected', 'UnknownMessageId', 'UnknownVendorId'].includes(r.status) ? '' : 'bad status'));
    return { transactionId: String(transactionId) };
}

async function finish16() {
    await expect('StopTransaction', client.call('StopTransaction', {
        idTag: 'TAG16', meterStop: 2500, timestamp: now(), transactionId, reason: 'EVDisconnected',
        transactionData: [meterValue16(2500, [0, 0, 0])],
    }));
    await expect('StatusNotification finishing', client.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Finishing', timestamp: now() }));
    await expect('StatusNotification available', client.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available', timestamp: now() }));
}

let seqNo = 0;
function txEvent(eventType, triggerReason, info, extra) {
    return {
        eventType, timestamp: now(), triggerReason, seqNo: seqNo++,
        transactionInfo: { transactionId: txId201, ...info }, ...extra,
    };
}

async function conversation201() {
    await expect('BootNotification', client.call('BootNotification', {
        reason: 'PowerUp',
        chargingStation: { model: 'RPC-201', vendorName: 'InteropVendor', serialNumber: 'SN-201', firmwareVersion: '2.2.1' },
    }), (r) => (r.status !== 'Accepted' || !(r.interval > 0) || !isDate(r.currentTime) ? 'not accepted' : ''));
    await expect('capability read', Promise.all([
        waitForServerCall('GetVariables', 1, 5000),
        waitForServerCall('SetVariables', 1, 5000),
    ]));
    await expect('Heartbeat', client.call('Heartbeat', {}), (r) => (isDate(r.currentTime) ? '' : 'no currentTime'));
    await expect('StatusNotification 1', client.call('StatusNotification', { timestamp: now(), connectorStatus: 'Available', evseId: 1, connectorId: 1 }));
    await expect('Authorize', client.call('Authorize', { idToken: { idToken: 'TAG201', type: 'ISO14443' } }),
        (r) => (r.idTokenInfo.status !== 'Accepted' ? 'not accepted' : ''));
    await expect('StatusNotification occupied', client.call('StatusNotification', { timestamp: now(), connectorStatus: 'Occupied', evseId: 1, connectorId: 1 }));
    await expect('TransactionEvent Started', client.call('TransactionEvent', txEvent('Started', 'CablePluggedIn',
        { chargingState: 'EVConnected' },
        {
            evse: { id: 1, connectorId: 1 },
            idToken: { idToken: 'TAG201', type: 'ISO14443' },
            meterValue: [{ timestamp: now(), sampledValue: [{ value: 1000, context: 'Transaction.Begin', measurand: 'Energy.Active.Import.Register', unitOfMeasure: { unit: 'Wh' } }] }],
        })));
    await expect('NotifyEVChargingNeeds', client.call('NotifyEVChargingNeeds', {
        evseId: 1,
        chargingNeeds: {
            requestedEnergyTransfer: 'AC_three_phase',
            departureTime: new Date(Date.now() + 4 * 3600 * 1000).toISOString(),
            acChargingParameters: { energyAmount: 20000, evMinCurrent: 6, evMaxCurrent: 32, evMaxVoltage: 400 },
        },
    }), (r) => (['Accepted', 'Rejected', 'Processing'].includes(r.status) ? '' : 'bad status'));
    await expect('TransactionEvent Updated', client.call('TransactionEvent', txEvent('Updated', 'ChargingStateChanged',
        { chargingState: 'Charging' }, { meterValue: [meterValue201(1500, [16.1, 15.9, 16.0])] })));
    await expect('MeterValues', client.call('MeterValues', { evseId: 1, meterValue: [meterValue201(1600, [16.2, 16.0, 15.8])] }));
    await expect('NotifyChargingLimit', client.call('NotifyChargingLimit', {
        evseId: 1,
        chargingLimit: { chargingLimitSource: 'EMS', isGridCritical: false },
        chargingSchedule: [{ id: 1, chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 20 }] }],
    }));
    await expect('DataTransfer', client.call('DataTransfer', { vendorId: 'org.smartcharge.interop', messageId: 'Ping', data: 'hello' }),
        (r) => (['Accepted', 'Rejected', 'UnknownMessageId', 'UnknownVendorId'].includes(r.status) ? '' : 'bad status'));
    return { transactionId: txId201 };
}

async function finish201() {
    await expect('TransactionEvent Ended', client.call('TransactionEvent', txEvent('Ended', 'EVCommunicationLost',
        { chargingState: 'Idle', stoppedReason: 'EVDisconnected' },
        { meterValue: [{ timestamp: now(), sampledValue: [{ value: 2500, context: 'Transaction.End', measurand: 'Energy.Active.Import.Register', unitOfMeasure: { unit: 'Wh' } }] }] })));
    await expect('StatusNotification available', client.call('StatusNotification', { timestamp: now(), connectorStatus: 'Available', evseId: 1, connectorId: 1 }));
}

function waitForFinish(timeoutMs) {
    return new Promise((resolve) => {
        const rl = readline.createInterface({ input: process.stdin });
        const timer = setTimeout(() => {
            errors.push(`no "finish" from the test within ${timeoutMs} ms`);
            rl.close();
            resolve();
        }, timeoutMs);
        rl.on('line', (line) => {
            if (line.trim() === 'finish') {
                clearTimeout(timer);
                rl.close();
                resolve();
            }
        });
        rl.on('close', () => { clearTimeout(timer); resolve(); });
    });
}

async function main() {
    let info = {};
    try {
        await client.connect();
        if (client.protocol !== args.protocol) errors.push(`negotiated ${client.protocol}, want ${args.protocol}`);
        info = v16 ? await conversation16() : await conversation201();
        emit({ type: 'ready', protocol: client.protocol, ...info });
        await waitForFinish(30000);
        await Promise.all(triggered);
        if (v16) await finish16(); else await finish201();
        await client.close({ code: 1000, reason: 'done', awaitPending: true });
    } catch (e) {
        errors.push(`fatal: ${e.stack || e.message}`);
        try { await client.close({ force: true }); } catch (_) { /* already closed */ }
    }
    if (frames !== null) fs.closeSync(frames);
    const ok = errors.length === 0 && strictFailures.length === 0 && badMessages.length === 0;
    emit({ type: 'result', ok, protocol: args.protocol, ...info, errors, strictFailures, badMessages, serverCalls });
    process.exitCode = ok ? 0 : 1;
}

main();
