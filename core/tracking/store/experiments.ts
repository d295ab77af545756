// Experiments: named groups of runs (created on first use by createRun).

import type { Db } from '../db'
import type { ExperimentRecord } from '../types'
import { requireText } from './rows'

interface ExperimentRow {
  id: number
  name: string
  description: string
  created_at: number
}

export function createExperiment(db: Db, name: string, description = ''): ExperimentRecord {
  const clean = requireText(name, 'experiment name')
  if (findExperiment(db, clean)) throw new Error(`experiment "${clean}" already exists`)
  db.prepare('INSERT INTO experiments (name, description, created_at) VALUES (?, ?, ?)').run(clean, description, Date.now())
  return findExperiment(db, clean)!
}

export function getOrCreateExperiment(db: Db, name: string): ExperimentRecord {
  return findExperiment(db, requireText(name, 'experiment name')) ?? createExperiment(db, name)
}

export function listExperiments(db: Db): ExperimentRecord[] {
  const rows = db.prepare('SELECT * FROM experiments ORDER BY name').all() as ExperimentRow[]
  return rows.map(rowToExperiment)
}

function findExperiment(db: Db, name: string): ExperimentRecord | undefined {
  const row = db.prepare('SELECT * FROM experiments WHERE name = ?').get(name) as ExperimentRow | undefined
  return row && rowToExperiment(row)
}

function rowToExperiment(row: ExperimentRow): ExperimentRecord {
  return { id: row.id, name: row.name, description: row.description, createdAt: row.created_at }
}
