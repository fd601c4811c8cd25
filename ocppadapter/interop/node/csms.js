'use strict';
// A small CSMS on npm ocpp-rpc (RPCServer, strictMode: true) for the
// interop tests of smartcharge's local controller mode (transparent OCPP
// proxy): chargers connect to smartcharge, smartcharge connects to this
// CSMS for each of them. Strict mode validates every CALL and CALLRESULT in
// both directions against the OCA schemas that ocpp-rpc ships.
//
//   node csms.js --port PORT [--frames FILE.jsonl]
//
// Protocol with the Go test, one JSON object per line:
//   stdout {"type":"listening","port":N}
//   stdout {"type":"connected","identity":..., "protocol":...}
//   stdout {"type":"disconnected","identity":...}
//   stdin  {"cmd":"call","ref":R,"identity":...,"method":...,"params":{...}}
//   stdout {"type":"callResult","ref":R,"result":{...}} or {..., "error":"..."}
//   stdout {"type":"strictFailure", ...} / {"type":"badMessage", ...}
// --frames appends every WebSocket message, both directions, as
// {"identity":..., "dir":"in"|"out", "data":"<raw frame>"}.
// StartTransaction (1.6) gets transaction ids 5001, 5002, ... per process
// start offset by --tx-base.

const fs = require('fs');
const readline = require('readline');
const { RPCServer, createRPCError } = require('ocpp-rpc');

function parseArgs(argv) {
    const out = {};
    for (let i = 0; i < argv.length; i += 2) {
        if (!argv[i].startsWith('--') || i + 1 >= argv.length) {
            throw new Error(`bad argument ${argv[i]}`);
        }
        out[argv[i].slice(2)] = argv[i + 1];
    }
    if (out.port === undefined) throw new Error('--port is required');
    return out;
}

const args = parseArgs(process.argv.slice(2));
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const log = (...a) => console.error('[csms]', ...a);
const now = () => new Date().toISOString();
let nextTx = Number(args['tx-base'] || 5000);

let frames = null;
if (args.frames) frames = fs.openSync(args.frames, 'a');

const server = new RPCServer({
    protocols: ['ocpp2.0.1', 'ocpp1.6'],
    strictMode: true,
    callTimeoutMs: 20000,
    pingIntervalMs: 0,
});

const clients = new Map();

server.on('client', (client) => {
    const id = client.identity;
    const v16 = client.protocol === 'ocpp1.6';
    clients.set(id, client);
    emit({ type: 'connected', identity: id, protocol: client.protocol });
    client.on('message', ({ message, outbound }) => {
        if (frames !== null) {
            fs.writeSync(frames, JSON.stringify({ identity: id, dir: outbound ? 'out' : 'in', data: message.toString() }) + '\n');
        }
    });
    client.on('strictValidationFailure', (ev) => {
        emit({ type: 'strictFailure', identity: id, method: ev.method, outbound: ev.outbound, isCall: ev.isCall, error: String(ev.error && ev.error.message) });
    });
    client.on('badMessage', ({ buffer, error }) => {
        emit({ type: 'badMessage', identity: id, frame: buffer.toString(), error: String(error && error.message) });
    });
    client.on('close', () => {
        if (clients.get(id) === client) clients.delete(id);
        emit({ type: 'disconnected', identity: id });
    });

    client.handle('BootNotification', () => ({ status: 'Accepted', currentTime: now(), interval: 300 }));
    client.handle('Heartbeat', () => ({ currentTime: now() }));
    client.handle('StatusNotification', () => ({}));
    client.handle('MeterValues', () => ({}));
    client.handle('Authorize', () => (v16 ? { idTagInfo: { status: 'Accepted' } } : { idTokenInfo: { status: 'Accepted' } }));
    client.handle('StartTransaction', () => ({ idTagInfo: { status: 'Accepted' }, transactionId: ++nextTx }));
    client.handle('StopTransaction', () => ({ idTagInfo: { status: 'Accepted' } }));
    client.handle('TransactionEvent', ({ params }) => (params.idToken ? { idTokenInfo: { status: 'Accepted' } } : {}));
    client.handle('DataTransfer', () => ({ status: 'UnknownVendorId' }));
    client.handle('NotifyEVChargingNeeds', () => ({ status: 'Accepted' }));
    client.handle(({ method }) => {
        throw createRPCError('NotImplemented', `test CSMS does not handle ${method}`);
    });
});

async function main() {
    const http = await server.listen(Number(args.port), '127.0.0.1');
    emit({ type: 'listening', port: http.address().port });
    const rl = readline.createInterface({ input: process.stdin });
    rl.on('line', async (line) => {
        let m;
        try {
            m = JSON.parse(line);
        } catch (e) {
            log('bad command', line);
            return;
        }
        if (m.cmd !== 'call') return;
        const client = clients.get(m.identity);
        if (!client) {
            emit({ type: 'callResult', ref: m.ref, error: `${m.identity} not connected` });
            return;
        }
        try {
            const result = await client.call(m.method, m.params);
            emit({ type: 'callResult', ref: m.ref, result });
        } catch (e) {
            emit({ type: 'callResult', ref: m.ref, error: String(e && e.message) });
        }
    });
    rl.on('close', async () => {
        await server.close({ force: true });
        process.exit(0);
    });
}

main().catch((e) => {
    log('fatal', e);
    process.exit(1);
});
