// The AUC lives in @fpt/core (the browser app computes it too); the bench's metrics re-export it.
export { aucScore, binaryAuc } from '@fpt/core';
