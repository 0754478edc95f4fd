import { MemoryBus } from '../server/bus/memory-bus.js';
import { describeBusContract } from './contracts/bus.contract.js';

describeBusContract('MemoryBus', { announcesLive: false }, async () => {
  const bus = new MemoryBus();
  return { bus, peer: bus, dispose: () => bus.close() };
});
