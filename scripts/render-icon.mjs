// Renders media/icon.svg to the 128×128 PNG the Marketplace needs (it takes no SVG icons), with the
// Chromium the browser tests use. Run after editing the SVG: node scripts/render-icon.mjs
import * as fs from 'node:fs';
import { chromium } from 'playwright-core';

const svg = fs.readFileSync('media/icon.svg', 'utf8');
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
try {
  const page = await browser.newPage({ viewport: { width: 128, height: 128 } });
  await page.setContent(`<body style="margin:0;background:transparent">${svg}</body>`);
  await page.locator('svg').screenshot({ path: 'media/icon.png', omitBackground: true });
} finally {
  await browser.close();
}
