// The peer: playwright-core driving the same Chrome the way the original
// Pixashot does: one browser, one shared context, a new page per capture,
// networkidle (the original's default wait_for_network) before the shot.
// Usage: node peer.js <chrome> <urls,comma-separated> <runs> <levels,comma-separated> <count per level> <rotate>
// With rotate, each capture takes the next URL in turn with a query never used before.
const { chromium } = require('playwright-core');
const fs = require('fs');

// Busy CPU ms of the whole machine since boot (/proc/stat, USER_HZ 100),
// measured the same way as the Go side does.
function busyMS() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return f.reduce((a, v, i) => (i === 3 || i === 4 ? a : a + v), 0) * 10;
}

async function main() {
  const [exe, urlList, runs, levels, count, rotate] = process.argv.slice(2);
  const urls = urlList.split(',');
  let n = 0;
  const nextURL = () => {
    n++;
    return rotate === 'true' ? `${urls[n % urls.length]}/page?q=${Date.now().toString(36)}-${n}` : urls[0];
  };
  const browser = await chromium.launch({
    executablePath: exe,
    args: ['--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ viewport: { width: 1920, height: 1080 } });
  const one = async () => {
    const page = await context.newPage();
    try {
      await page.goto(nextURL(), { waitUntil: 'networkidle', timeout: 30000 });
      return await page.screenshot({ type: 'png' });
    } finally {
      await page.close();
    }
  };
  for (let i = 0; i < 3; i++) await one();
  const seq = [];
  const c0 = busyMS();
  for (let i = 0; i < Number(runs); i++) {
    const t = performance.now();
    await one();
    seq.push(performance.now() - t);
  }
  const seqCPU = (busyMS() - c0) / Number(runs);
  const throughput = {};
  for (const c of levels.split(',').map(Number)) {
    const total = Number(count) * c;
    let next = 0, errors = 0;
    const t0 = performance.now(), cpu0 = busyMS();
    await Promise.all(Array.from({ length: c }, async () => {
      while (next < total) {
        next++;
        try { await one(); } catch (e) { errors++; }
      }
    }));
    throughput[c] = { per_second: total / ((performance.now() - t0) / 1000), errors, cpu_ms: (busyMS() - cpu0) / total };
  }
  await browser.close();
  console.log(JSON.stringify({ seq_ms: seq, seq_cpu_ms: seqCPU, throughput }));
}

main().catch((e) => { console.error(e); process.exit(1); });
