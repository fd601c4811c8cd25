'use strict';
// Sends frames as they are (malformed ones too) over a plain WebSocket (the
// `ws` package that ocpp-rpc is built on) and reports what came back, for
// the negative interop tests of the smartcharge OCPP adapter.
//
//   node raw.js --url ws://127.0.0.1:PORT/ocpp/ID --protocol ocpp1.6 < cases.json
//
// stdin: a JSON array of {"name": "...", "frame": "<raw text>", "waitMs": 3000}.
// Each frame is sent once the previous case is settled; the first message
// that arrives within waitMs is its reply ("reply": null when none came).
// stdout: one line {"type":"result","protocol":...,"replies":[{"name","reply"}],
// "open": <socket still open at the end>, "close": {code, reason} | null}.

const WebSocket = require('ws');

function parseArgs(argv) {
    const out = {};
    for (let i = 0; i < argv.length; i += 2) out[argv[i].replace(/^--/, '')] = argv[i + 1];
    if (!out.url || !out.protocol) throw new Error('--url and --protocol are required');
    return out;
}

async function readStdin() {
    const chunks = [];
    for await (const c of process.stdin) chunks.push(c);
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

async function main() {
    const args = parseArgs(process.argv.slice(2));
    const cases = await readStdin();
    const ws = new WebSocket(args.url, [args.protocol]);
    const inbox = [];
    let waiter = null;
    let closed = null;
    ws.on('message', (data) => {
        inbox.push(data.toString('utf8'));
        if (waiter) waiter();
    });
    ws.on('close', (code, reason) => {
        closed = { code, reason: reason.toString() };
        if (waiter) waiter();
    });
    await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
    });
    const replies = [];
    for (const c of cases) {
        inbox.length = 0;
        if (closed) {
            replies.push({ name: c.name, reply: null, closedBefore: true });
            continue;
        }
        ws.send(c.frame);
        const reply = await new Promise((resolve) => {
            const t = setTimeout(() => { waiter = null; resolve(null); }, c.waitMs || 3000);
            waiter = () => {
                if (inbox.length > 0 || closed) {
                    clearTimeout(t);
                    waiter = null;
                    resolve(inbox.length > 0 ? inbox.shift() : null);
                }
            };
            waiter();
        });
        replies.push({ name: c.name, reply });
    }
    const open = ws.readyState === WebSocket.OPEN;
    process.stdout.write(JSON.stringify({ type: 'result', protocol: ws.protocol, replies, open, close: closed }) + '\n');
    ws.close(1000, 'done');
}

main().catch((e) => {
    process.stdout.write(JSON.stringify({ type: 'result', fatal: String(e.stack || e) }) + '\n');
    process.exitCode = 1;
});
