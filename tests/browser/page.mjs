// What the browser tests share: how Chromium is launched and how the chat page is read
// (the DOM contract: #status reads "open", each message is a `#log .msg` element).

// Debian's Chromium, never a downloaded browser build.
export const launchOptions = {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
};

export const statusIsOpen = () => document.querySelector('#status')?.textContent.trim() === 'open';
export const logHas = (text) => [...document.querySelectorAll('#log .msg')].some((e) => e.textContent.includes(text));
